/** Direct SQL against the run's database, for tests that check what was stored (hashes, audit rows). */
import { inject } from "vitest";
import { Client } from "pg";

export async function sql<T = Record<string, unknown>>(query: string, values: unknown[] = []): Promise<T[]> {
	const client = new Client({ connectionString: inject("testEnv").databaseUrl });
	await client.connect();
	try {
		return (await client.query(query, values)).rows as T[];
	} finally {
		await client.end();
	}
}
