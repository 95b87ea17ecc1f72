# La página de pago y el recibo del comprador, en español.

language-name = Español

## Números, importes y fechas

number-decimal = ,
number-group = .
# En español no se agrupan los números de cuatro cifras: 1000, pero 10.000.
number-min-grouping = 2
money-with-symbol = { $number } { $symbol }
money-with-code = { $number } { $code }
currency-EUR = €
currency-GBP = £
currency-USD = US$
currency-JPY = ¥
date = { $day } de { $month } de { $year }
date-time = { $date }, { $time } UTC
month-1 = enero
month-2 = febrero
month-3 = marzo
month-4 = abril
month-5 = mayo
month-6 = junio
month-7 = julio
month-8 = agosto
month-9 = septiembre
month-10 = octubre
month-11 = noviembre
month-12 = diciembre

## La página de pago

language-switch = Idioma
page-title = Pagar a { $merchant }
paying-to = Pago a
due-label = Pagar antes del { $date }
card-heading = Datos de la tarjeta
cardholder-label = Nombre del titular
card-number-label = Número de tarjeta
expiry-label = Fecha de caducidad
expiry-hint = MM/AA
cvc-label = Código de seguridad
cvc-hint = 3 cifras en el reverso de la tarjeta, 4 en el anverso en American Express
pay-button = Pagar { $amount }
accepted-cards = Tarjetas aceptadas: { $brands }
taxes-heading = Impuestos incluidos
details-heading = Detalles
tax-with-base = { $kind } (sobre { $base })
tax-valueAddedTax = IVA
tax-exciseDuty = Impuesto especial
tax-municipalTax = Impuesto municipal
tax-stateTax = Impuesto estatal
tax-airportTax = Tasa aeroportuaria
tax-salesTax = Impuesto sobre las ventas
tax-other = Otro impuesto
secure-note = Solo se guardan la marca de la tarjeta y sus cuatro últimas cifras. El número completo y el código de seguridad nunca se almacenan.

## Por qué no se ha completado un pago

form-errors = Revisa los campos señalados.
declined = Tu tarjeta ha sido rechazada y no se ha cobrado nada. Puedes intentarlo de nuevo o usar otra tarjeta.
locked = Este enlace ha tenido demasiados pagos rechazados y queda en pausa durante una hora para proteger las tarjetas usadas. Inténtalo más tarde o contacta con el comercio.
busy = Se está procesando otro pago en este enlace. Espera un momento y vuelve a cargar la página.
amount-changed = El comercio acaba de cambiar el importe de este pago. Comprueba el nuevo importe y vuelve a pagar.
acquirer-unavailable = No se ha podido procesar el pago en este momento y no se ha cobrado nada. Inténtalo de nuevo en unos minutos.
not-charged = No se ha cargado nada en tu tarjeta.

## Errores de los campos

error-cardNumber-missing = Introduce el número de tarjeta.
error-cardNumber-not-digits = El número de tarjeta solo puede contener cifras.
error-cardNumber-length = Este número de tarjeta es demasiado corto o demasiado largo.
error-cardNumber-luhn = Este número de tarjeta no es válido. Comprueba que esté bien escrito.
error-cardNumber-brand = Esta tarjeta no se acepta para este pago. Utilice una de las tarjetas aceptadas.
error-expiry-missing = Introduce la fecha de caducidad.
error-expiry-format = Introduce la fecha de caducidad como MM/AA, por ejemplo 04/29.
error-expiry-past = Esta tarjeta está caducada.
error-expiry-too-far = Esta fecha de caducidad es demasiado lejana.
error-cvc-missing = Introduce el código de seguridad.
error-cvc-not-digits = El código de seguridad solo puede contener cifras.
error-cvc-length = Introduce el código de seguridad de 3 cifras (4 en American Express).
error-cardholder-missing = Introduce el nombre del titular.
error-cardholder-invalid = Introduce el nombre tal y como aparece en la tarjeta, sin cifras.
error-cardholder-too-long = El nombre del titular puede tener como máximo 100 caracteres.
error-generic = Revisa este campo.

## Enlaces que no se pueden pagar

status-CREATED = Pendiente
status-PAID = Pagado
status-PARTIALLY_REFUNDED = Reembolsado en parte
status-REFUNDED = Reembolsado
status-CANCELLED = Cancelado
status-EXPIRED = Caducado
closed-PAID-heading = Este enlace ya está pagado
closed-PAID-text = { $merchant } ya ha recibido el pago de este enlace. No hay nada más que pagar.
closed-PARTIALLY_REFUNDED-heading = Este enlace ya está pagado
closed-PARTIALLY_REFUNDED-text = { $merchant } ha recibido el pago de este enlace y ha devuelto una parte. No hay nada más que pagar.
closed-REFUNDED-heading = Este enlace ya está pagado y reembolsado
closed-REFUNDED-text = { $merchant } recibió el pago de este enlace y lo ha devuelto por completo. No hay nada más que pagar.
closed-CANCELLED-heading = Este enlace ha sido cancelado
closed-CANCELLED-text = { $merchant } ha cancelado este enlace de pago. Contacta con el comercio si todavía quieres pagar.
closed-EXPIRED-heading = Este enlace ha caducado
closed-EXPIRED-text = Este enlace de pago caducó el { $date }. Pide a { $merchant } uno nuevo.

## Recibo

receipt-title = Recibo
receipt-heading = Pago recibido
receipt-thanks = ¡Gracias! { $merchant } ha recibido tu pago.
receipt-merchant = Comercio
receipt-description = Descripción
receipt-amount = Importe
receipt-date = Fecha
receipt-transaction = ID de transacción
receipt-card = Tarjeta
receipt-card-value = { $brand } terminada en { $last4 }
receipt-keep = Guarda esta página o anota el ID de transacción.
brand-visa = Visa
brand-master = Mastercard
brand-amex = American Express
brand-discover = Discover
brand-diners = Diners Club
brand-jcb = JCB
brand-other = Tarjeta

## Otras páginas

not-found-title = Enlace de pago no encontrado
not-found-text = No hay ningún enlace de pago en esta dirección. Comprueba el enlace que te han enviado.
expired-form-title = Esta página ha caducado
expired-form-text = Por seguridad, el formulario de pago es válido durante un tiempo limitado. Vuelve a abrir la página de pago; no se ha cobrado nada.
back-to-payment = Volver a la página de pago
