/**
 * The broker's parameter validator: Moleculer's fastest-validator, except that `null` is a value only where a
 * rule says `nullable: true`.
 *
 * fastest-validator lets `null` through every `optional` field (and replaces it with a field's `default`), so
 * `{"fullName": null}` reached the database as a NOT NULL violation. Here a `null` in any field that does not
 * declare `nullable: true` is refused with a `notNull` field error (400 VALIDATION_ERROR at the gateway), at
 * every depth (object props, array items, records, alternatives), for every action and event that declares
 * params. An action that uses `null` to clear a value says so with `nullable: true` (and, where absent is
 * allowed too, `optional: true`).
 */
import FastestValidatorEngine from "fastest-validator";
import { Validators } from "moleculer";

type FastestValidatorOptions = ConstructorParameters<typeof Validators.Fastest>[0];

interface CompiledRule {
	schema: { type?: string; nullable?: boolean; rules?: unknown[] };
	messages: Record<string, string>;
}

/** The engine internals this file builds on (fastest-validator 1.x; not in its typings). */
interface EngineInternals {
	wrapRequiredCheckSourceCode(rule: CompiledRule, innerSrc: string, context: unknown, resVar: string): string;
	makeError(options: { type: string; actual?: string; messages: Record<string, string> }): string;
	getRuleFromSchema(schema: unknown): CompiledRule;
}

export const NOT_NULL_MESSAGE = "The '{field}' field must not be null.";

const engineInternals = FastestValidatorEngine.prototype as unknown as EngineInternals;

class NullRefusingEngine extends FastestValidatorEngine {
	/** fastest-validator wraps every rule's check with its undefined/null handling here; null is decided first. */
	wrapRequiredCheckSourceCode(rule: CompiledRule, innerSrc: string, context: unknown, resVar: string): string {
		const self = this as unknown as EngineInternals;
		const wrapped = engineInternals.wrapRequiredCheckSourceCode.call(this, rule, innerSrc, context, resVar);
		if (this.acceptsNull(rule)) return wrapped;
		return `if (value === null) { ${self.makeError({ type: "notNull", actual: "value", messages: rule.messages })} } else { ${wrapped} }`;
	}

	private acceptsNull(rule: CompiledRule): boolean {
		const { schema } = rule;
		if (schema.nullable === true || schema.type === "forbidden") return true;
		// Alternatives ([rule, rule] or type "multi") accept null when one of them does.
		if (schema.type === "multi" && Array.isArray(schema.rules)) {
			const self = this as unknown as EngineInternals;
			return schema.rules.some((item) => self.getRuleFromSchema(item).schema.nullable === true);
		}
		return false;
	}
}

/** Moleculer's fastest-validator wrapper with the null-refusing engine; the broker's `validator` option. */
export class PlatformValidator extends Validators.Fastest {
	constructor(options: FastestValidatorOptions = {}) {
		const opts = { ...options, messages: { notNull: NOT_NULL_MESSAGE, ...options?.messages } };
		super(opts);
		(this as unknown as { validator: FastestValidatorEngine }).validator = new NullRefusingEngine(this.opts);
	}
}
