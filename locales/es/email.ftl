# Los correos del enlace y del recibo, en español. Comparten con la página los
# textos de importes, fechas, campos del recibo y el botón de pago (shopper.ftl).

email-greeting = Hola:
email-link-subject = Solicitud de pago de { $merchant }: { $amount }
email-link-intro = { $merchant } te ha enviado un enlace de pago de { $amount }.
email-link-fallback = Si el botón no funciona, copia esta dirección en tu navegador:
email-receipt-subject = Tu recibo de { $merchant }: { $amount }
email-receipt-online = También puedes ver este recibo en línea:
email-footer = Este correo se ha enviado en nombre de { $merchant }. Si no lo esperabas, puedes ignorarlo.
