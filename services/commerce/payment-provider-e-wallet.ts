/**
 * E-wallet: a deep link (and the same text as a QR payload) opens the payer's wallet app with the amount and
 * the reference filled in; the wallet's callback (or a super admin) settles it.
 */
import { baseInstructions, type PaymentProvider, type ProviderPayment } from "./payment-provider";

export class EWalletProvider implements PaymentProvider {
	readonly method = "e_wallet" as const;
	readonly name = "manual";
	readonly settledBy = "verify" as const;

	/** `deepLinkBase()`: the base of the wallet's deep link (and QR payload). */
	constructor(private readonly deepLinkBase: () => string) {}

	instructions(payment: ProviderPayment): Record<string, unknown> {
		const query = new URLSearchParams({ ref: payment.reference, amount: String(payment.amount), currency: payment.currency });
		const deepLink = `${this.deepLinkBase()}?${query.toString()}`;
		return { ...baseInstructions(payment), deepLink, qrPayload: deepLink };
	}
}
