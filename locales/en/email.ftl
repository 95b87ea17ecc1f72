# The link and receipt emails, in English. They share the page's texts for
# amounts, dates, the receipt's fields and the pay button (shopper.ftl).

email-greeting = Hello,
email-link-subject = Payment request from { $merchant }: { $amount }
email-link-intro = { $merchant } has sent you a payment link for { $amount }.
email-link-fallback = If the button does not work, copy this address into your browser:
email-receipt-subject = Your receipt from { $merchant }: { $amount }
email-receipt-online = You can also see this receipt online:
email-footer = This email was sent on behalf of { $merchant }. If you were not expecting it, you can ignore it.
