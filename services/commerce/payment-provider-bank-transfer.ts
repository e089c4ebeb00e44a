/**
 * Bank transfer: the payer wires the amount to the platform's account with the payment's reference in the
 * transfer's description; a super admin or the bank's callback settles it (`POST /payments/:id/verify`).
 * A refund is sent back by the bank outside the platform and only recorded here.
 */
import { baseInstructions, type PaymentProvider, type ProviderPayment } from "./payment-provider";

export interface BankAccount {
	bankName: string;
	accountName: string;
	iban: string;
	bic: string;
}

export class BankTransferProvider implements PaymentProvider {
	readonly method = "bank_transfer" as const;
	readonly name = "manual";
	readonly settledBy = "verify" as const;

	/** Read at each payment: the service's settings may be configured after the provider is built. */
	constructor(private readonly account: () => BankAccount) {}

	instructions(payment: ProviderPayment): Record<string, unknown> {
		return { ...baseInstructions(payment), ...this.account(), note: `Put ${payment.reference} in the transfer's description` };
	}
}
