/**
 * The payment providers a node has, by method (Medusa's `loaders/providers.ts`): built once from the
 * configuration when the payments service is created. The manual methods are always there; `credit_card`
 * only when STRIPE_SECRET_KEY is set (otherwise 422 METHOD_NOT_AVAILABLE).
 */
import { UnprocessableEntityError } from "../../lib/errors";
import type { PaymentsConfig } from "../../lib/config/commerce";
import type { PaymentMethod } from "./contracts";
import { savesMethods, type PaymentProvider, type SavedMethodSupport } from "./payment-provider";
import { BankTransferProvider, type BankAccount } from "./payment-provider-bank-transfer";
import { VirtualAccountProvider } from "./payment-provider-virtual-account";
import { EWalletProvider } from "./payment-provider-e-wallet";
import { StripeCardProvider } from "./stripe-provider";

export class PaymentProviderRegistry {
	private readonly byMethod = new Map<PaymentMethod, PaymentProvider>();

	constructor(providers: readonly PaymentProvider[]) {
		for (const provider of providers) {
			if (this.byMethod.has(provider.method)) throw new Error(`Two payment providers for ${provider.method}`);
			this.byMethod.set(provider.method, provider);
		}
	}

	/** The methods a payer may choose on this node, in registration order. */
	available(): PaymentMethod[] {
		return [...this.byMethod.keys()];
	}

	find(method: PaymentMethod): PaymentProvider | undefined {
		return this.byMethod.get(method);
	}

	/** The method's provider, or 422 METHOD_NOT_AVAILABLE naming what is. */
	get(method: PaymentMethod): PaymentProvider {
		const provider = this.byMethod.get(method);
		if (provider) return provider;
		const what = method === "credit_card" ? "Card payments are" : `${method} payments are`;
		throw new UnprocessableEntityError(`${what} not available; pay by ${this.available().join(", ")}`, "METHOD_NOT_AVAILABLE", { method, available: this.available() });
	}

	/** The provider that keeps tenants' cards (Stripe), if configured. */
	savedMethods(): (PaymentProvider & SavedMethodSupport) | undefined {
		return [...this.byMethod.values()].find(savesMethods);
	}

	/** The provider whose webhooks arrive under `name` (`/webhooks/stripe`), if configured. */
	webhookSource(name: string): (PaymentProvider & Required<Pick<PaymentProvider, "parseWebhook">>) | undefined {
		const provider = [...this.byMethod.values()].find((candidate) => candidate.name === name && candidate.parseWebhook);
		return provider as (PaymentProvider & Required<Pick<PaymentProvider, "parseWebhook">>) | undefined;
	}
}

/** What the manual methods show payers (the payments service's settings, read at each payment). */
export interface ManualMethodSettings {
	bankAccount: BankAccount;
	virtualAccountPrefix: string;
	walletDeepLinkBase: string;
}

export function paymentProviders(config: PaymentsConfig, settings: ManualMethodSettings): PaymentProviderRegistry {
	const providers: PaymentProvider[] = [
		new BankTransferProvider(() => settings.bankAccount),
		new EWalletProvider(() => settings.walletDeepLinkBase),
		new VirtualAccountProvider(() => ({ bankName: settings.bankAccount.bankName, prefix: settings.virtualAccountPrefix })),
	];
	const { secretKey, webhookSecret, apiBase } = config.stripe;
	if (secretKey) providers.push(new StripeCardProvider({ secretKey, webhookSecret, apiBase }));
	return new PaymentProviderRegistry(providers);
}
