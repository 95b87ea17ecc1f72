# The shopper's payment page and receipt, in English.
# Adding a language: copy this folder to locales/<code>/, translate the values
# (keep the keys and the { $placeholders }), and rebuild.

language-name = English

## Numbers, money and dates

number-decimal = .
number-group = ,
# Digits needed before the integer part is grouped: 1 → 1,000; 2 → 1000 but 10,000.
number-min-grouping = 1
money-with-symbol = { $symbol }{ $number }
money-with-code = { $code } { $number }
currency-EUR = €
currency-GBP = £
currency-USD = $
currency-JPY = ¥
date = { $day } { $month } { $year }
date-time = { $date }, { $time } UTC
month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December

## The payment page

language-switch = Language
page-title = Pay { $merchant }
paying-to = Payment to
due-label = Pay before { $date }
card-heading = Card details
cardholder-label = Name on card
card-number-label = Card number
expiry-label = Expiry date
expiry-hint = MM/YY
cvc-label = Security code
cvc-hint = 3 digits on the back of the card, 4 on the front for American Express
pay-button = Pay { $amount }
accepted-cards = Accepted cards: { $brands }
taxes-heading = Taxes included
details-heading = Details
tax-with-base = { $kind } (on { $base })
tax-valueAddedTax = VAT
tax-exciseDuty = Excise duty
tax-municipalTax = Municipal tax
tax-stateTax = State tax
tax-airportTax = Airport tax
tax-salesTax = Sales tax
tax-other = Other tax
secure-note = Only the card brand and its last four digits are kept. The full card number and security code are never stored.

## Why a payment did not go through

form-errors = Please check the highlighted fields.
declined = Your card was declined and no money was taken. You can try again or use another card.
locked = This link has had too many declined payments, so it is paused for an hour to protect the cards used. Please try again later or contact the merchant.
busy = Another payment on this link is being processed. Please wait a moment and reload the page.
amount-changed = The amount of this payment has just been changed by the merchant. Please check the new amount and pay again.
acquirer-unavailable = The payment could not be processed right now and no money was taken. Please try again in a few minutes.
not-charged = Your card has not been charged.

## Field errors

error-cardNumber-missing = Enter the card number.
error-cardNumber-not-digits = The card number can only contain digits.
error-cardNumber-length = This card number is too short or too long.
error-cardNumber-luhn = This card number is not valid. Please check it for typing mistakes.
error-cardNumber-brand = This card is not accepted for this payment. Please use one of the accepted cards.
error-expiry-missing = Enter the expiry date.
error-expiry-format = Enter the expiry date as MM/YY, for example 04/29.
error-expiry-past = This card has expired.
error-expiry-too-far = This expiry date is too far in the future.
error-cvc-missing = Enter the security code.
error-cvc-not-digits = The security code can only contain digits.
error-cvc-length = Enter the 3-digit security code (4 digits for American Express).
error-cardholder-missing = Enter the name on the card.
error-cardholder-invalid = Enter the name as printed on the card, without digits.
error-cardholder-too-long = The name on the card can be at most 100 characters.
error-generic = Please check this field.

## Links that cannot be paid

status-CREATED = Open
status-PAID = Paid
status-PARTIALLY_REFUNDED = Partly refunded
status-REFUNDED = Refunded
status-CANCELLED = Cancelled
status-EXPIRED = Expired
closed-PAID-heading = This link has been paid
closed-PAID-text = { $merchant } has received the payment for this link. There is nothing more to pay.
closed-PARTIALLY_REFUNDED-heading = This link has been paid
closed-PARTIALLY_REFUNDED-text = { $merchant } has received the payment for this link and has refunded part of it. There is nothing more to pay.
closed-REFUNDED-heading = This link has been paid and refunded
closed-REFUNDED-text = { $merchant } received the payment for this link and has refunded it in full. There is nothing more to pay.
closed-CANCELLED-heading = This link has been cancelled
closed-CANCELLED-text = { $merchant } cancelled this payment link. Please contact them if you still want to pay.
closed-EXPIRED-heading = This link has expired
closed-EXPIRED-text = This payment link expired on { $date }. Please ask { $merchant } for a new one.

## Receipt

receipt-title = Receipt
receipt-heading = Payment received
receipt-thanks = Thank you! { $merchant } has received your payment.
receipt-merchant = Merchant
receipt-description = Description
receipt-amount = Amount
receipt-date = Date
receipt-transaction = Transaction ID
receipt-card = Card
receipt-card-value = { $brand } ending in { $last4 }
receipt-keep = Keep this page or note the transaction ID for your records.
brand-visa = Visa
brand-master = Mastercard
brand-amex = American Express
brand-discover = Discover
brand-diners = Diners Club
brand-jcb = JCB
brand-other = Card

## Other pages

not-found-title = Payment link not found
not-found-text = There is no payment link at this address. Please check the link you were sent.
expired-form-title = This page has expired
expired-form-text = For your security the payment form is valid for a limited time. Please open the payment page again; nothing has been charged.
back-to-payment = Back to the payment page
