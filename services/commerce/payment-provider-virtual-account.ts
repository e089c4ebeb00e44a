/**
 * Virtual account: the payer transfers to an account number of their own (the bank's prefix plus 10 random
 * digits), so the bank knows the payment without a reference; its callback (or a super admin) settles it.
 */
import crypto from "node:crypto";
import { baseInstructions, type PaymentProvider, type ProviderPayment } from "./payment-provider";

export interface VirtualAccountSettings {
	bankName: string;
	/** Virtual account numbers are this prefix plus 10 random digits. */
	prefix: string;
}

export class VirtualAccountProvider implements PaymentProvider {
	readonly method = "virtual_account" as const;
	readonly name = "manual";
	readonly settledBy = "verify" as const;

	constructor(private readonly settings: () => VirtualAccountSettings) {}

	instructions(payment: ProviderPayment): Record<string, unknown> {
		const { bankName, prefix } = this.settings();
		let digits = "";
		for (let index = 0; index < 10; index += 1) digits += String(crypto.randomInt(10));
		return { ...baseInstructions(payment), bankName, virtualAccountNumber: `${prefix}${digits}` };
	}
}
