/**
 * Reading the environment: typed, validated values or a ConfigError naming the variable. The primitives
 * every configuration section (lib/config.ts and its domain sections in lib/config/) is built from.
 */

export class ConfigError extends Error {
	constructor(
		readonly variable: string,
		message: string,
	) {
		super(`Invalid configuration: ${variable} ${message}`);
		this.name = "ConfigError";
	}
}

export type Env = Record<string, string | undefined>;

export function read(env: Env, name: string): string | undefined {
	const value = env[name];
	if (value === undefined) return undefined;
	const trimmed = value.trim();
	return trimmed === "" ? undefined : trimmed;
}

export function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
	const value = read(env, name);
	if (value === undefined) return fallback;
	if (!(allowed as readonly string[]).includes(value)) {
		throw new ConfigError(name, `must be one of ${allowed.join(", ")} (got "${value}")`);
	}
	return value as T;
}

export function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
	const value = read(env, name);
	if (value === undefined) return fallback;
	if (!/^\d+$/.test(value)) throw new ConfigError(name, `must be a whole number (got "${value}")`);
	const parsed = Number(value);
	if (parsed < min || parsed > max) {
		throw new ConfigError(name, `must be between ${min} and ${max} (got ${parsed})`);
	}
	return parsed;
}

export function url(env: Env, name: string, protocols: readonly string[]): string | undefined {
	const value = read(env, name);
	if (value === undefined) return undefined;
	let parsed: URL;
	try {
		parsed = new URL(value);
	} catch {
		throw new ConfigError(name, `must be a URL (got "${value}")`);
	}
	if (!protocols.includes(parsed.protocol)) {
		throw new ConfigError(name, `must use ${protocols.join(" or ")} (got "${parsed.protocol}")`);
	}
	if (!parsed.hostname) throw new ConfigError(name, "must name a host");
	return value;
}

export function byteSize(env: Env, name: string, fallback: string): string {
	const value = read(env, name) ?? fallback;
	if (!/^\d+(b|kb|mb)?$/i.test(value)) {
		throw new ConfigError(name, `must be a size such as 512kb or 1mb (got "${value}")`);
	}
	return value.toLowerCase();
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "5s" → 5000; "250ms", "30m", "2h", "5d". */
export function parseDuration(name: string, value: string): number {
	const match = /^(\d+)(ms|s|m|h|d)$/.exec(value.trim());
	if (!match) throw new ConfigError(name, `must be durations like 5s, 5m, 2h or 5d (got "${value}")`);
	return Number(match[1]) * DURATION_UNITS[match[2]];
}

export function duration(env: Env, name: string, fallback: string): number {
	return parseDuration(name, read(env, name) ?? fallback);
}

export function durationList(env: Env, name: string, fallback: string): number[] {
	const items = (read(env, name) ?? fallback).split(",").map((item) => item.trim()).filter(Boolean);
	if (items.length === 0 || items.length > 20) throw new ConfigError(name, "must list 1 to 20 durations");
	return items.map((item) => parseDuration(name, item));
}

export function list(env: Env, name: string, fallback: string[]): string[] {
	const value = read(env, name);
	return value === undefined ? fallback : [...new Set(value.split(",").map((item) => item.trim()).filter(Boolean))];
}

/** Bytes from "10mb", "1gb", "512kb" or a plain number. */
export function bytes(env: Env, name: string, fallback: number): number {
	const value = read(env, name);
	if (value === undefined) return fallback;
	const match = /^(\d+)(b|kb|mb|gb)?$/i.exec(value);
	if (!match) throw new ConfigError(name, `must be a size such as 512kb, 100mb or 1gb (got "${value}")`);
	const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(match[2] ?? "b").toLowerCase() as "b"];
	return Number(match[1]) * unit;
}

/** An optional secret: when set, long enough to be worth having. */
export function secret(env: Env, name: string, minLength: number): string | undefined {
	const value = read(env, name);
	if (value !== undefined && value.length < minLength) throw new ConfigError(name, `must be at least ${minLength} characters`);
	return value;
}
