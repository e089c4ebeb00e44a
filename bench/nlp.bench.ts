/**
 * Reviews analysed per second by the nlp service's consumer path, next to a plain loop of the same natural
 * calls over the same reviews in the same process (goal: the consumer path ≥ 0.5 of the loop).
 *
 * (a) Plain loop: for each review, services/reviews/nlp-analyzer.ts's analyseText (tokenising, tinyld, the
 *     sentiment analyzer, entities, the default BayesClassifier) and nlp-keywords.ts's TF-IDF against an
 *     in-memory corpus: no broker, no database.
 * (b) Consumer path: a node on NATS running the reviews domain (the reviews and nlp services) on a fresh
 *     database. The reviews are stored through `reviews.store` in batches of 500 (what collectors do); their
 *     `reviews.collected` messages go through the outbox and JetStream to the nlp consumer, which reads the texts
 *     (`reviews.forAnalysis`), analyses them, counts them into the tenant's corpus and saves the results
 *     (`reviews.saveAnalysis`, itself announcing `reviews.analyzed` through the outbox). Timed twice: "collected"
 *     from the first store call to the last saved analysis (storing included, the first, cold pass), and
 *     "reanalysed" from `nlp.reanalyze` to the last saved analysis (the consumer path alone, warm).
 *
 * Reviews: the labelled test set and the default training set (about 700 texts), repeated to BENCH_REVIEWS
 * with ratings and languages as written. Prints reviews/s of each and the ratios.
 *
 * Settings (environment): BENCH_REVIEWS (3000), BENCH_POSTGRES_ADMIN_URL (postgres://postgres@127.0.0.1:5432/postgres),
 * TRANSPORTER (nats://127.0.0.1:4222).
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "nats";
import { Client } from "pg";
import fixture from "../test/fixtures/reviews-labelled.json";
import training from "../services/reviews/nlp-data/topics-training.json";
import { createNode, type LatticeNode } from "../lib/node";
import { loadConfig } from "../lib/config";
import { systemCall } from "../lib/caller";
import { analyseText, type AnalyzerOptions } from "../services/reviews/nlp-analyzer";
import { keywordsOf } from "../services/reviews/nlp-keywords";
import { defaultTopicClassifier } from "../services/reviews/nlp-topics";
import type { ReviewInput, StoreResult } from "../services/reviews/contracts";
import { BENCH_SECRETS_KEY, databaseUrl, withAdminClient } from "./support";

const REVIEWS = Number(process.env.BENCH_REVIEWS ?? 3000);
const TRANSPORTER = process.env.TRANSPORTER ?? "nats://127.0.0.1:4222";
const STORE_BATCH = 500;
const TIMEOUT_MS = 600_000;

function benchReviews(count: number): ReviewInput[] {
	const texts = [
		...fixture.map((review) => ({ body: review.text, rating: review.rating })),
		...training.map((example) => ({ body: example.text, rating: null })),
	];
	return Array.from({ length: count }, (_, index) => ({
		externalId: `bench-${index}`,
		...texts[index % texts.length],
		publishedAt: new Date(Date.UTC(2026, 10, 1) + index * 60_000).toISOString(),
	}));
}

/** (a) the same calls as the consumer's analyseBatch, one review at a time, corpus in memory. */
function plainLoop(reviews: ReviewInput[], options: AnalyzerOptions, keywordLimit: number): number {
	const classifier = defaultTopicClassifier();
	const frequencies = new Map<string, number>();
	let documents = 0;
	const started = performance.now();
	for (const review of reviews) {
		const analysis = analyseText({ title: null, body: review.body, rating: review.rating ?? null, language: null }, classifier, options);
		documents += 1;
		for (const term of new Set(analysis.terms)) frequencies.set(term, (frequencies.get(term) ?? 0) + 1);
		keywordsOf([analysis.terms], { documents, frequency: (term) => frequencies.get(term) ?? 0 }, keywordLimit);
	}
	return reviews.length / ((performance.now() - started) / 1000);
}

async function analysedSince(db: Client, tenantId: string, since: Date): Promise<number> {
	const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM reviews.reviews WHERE tenant_id = $1 AND analyzed_at >= $2`, [tenantId, since]);
	return Number(rows[0].n);
}

/** Polls until `count` reviews were analysed at or after `since`; answers when the last one was. */
async function waitForAnalysed(db: Client, tenantId: string, since: Date, count: number): Promise<number> {
	const started = Date.now();
	while ((await analysedSince(db, tenantId, since)) < count) {
		if (Date.now() - started > TIMEOUT_MS) throw new Error(`only ${await analysedSince(db, tenantId, since)} of ${count} reviews analysed`);
		await sleep(20);
	}
	const { rows } = await db.query<{ last: Date }>(`SELECT max(analyzed_at) AS last FROM reviews.reviews WHERE tenant_id = $1`, [tenantId]);
	return rows[0].last.getTime();
}

async function dropStreams(namespace: string): Promise<void> {
	const nc = await connect({ servers: TRANSPORTER });
	try {
		const jsm = await nc.jetstreamManager();
		// Streams are named `<namespace>_<channel, dots as underscores>`.
		for await (const stream of jsm.streams.list()) if (stream.config.name.startsWith(`${namespace}_`)) await jsm.streams.delete(stream.config.name);
	} finally {
		await nc.close();
	}
}

async function main(): Promise<void> {
	const id = `${Date.now().toString(36)}${process.pid.toString(36)}`;
	const database = `lattice_bench_nlp_${id}`;
	const namespace = `bench-nlp-${id}`;
	const reviews = benchReviews(REVIEWS);
	let node: LatticeNode | undefined;
	let db: Client | undefined;
	await withAdminClient((pg) => pg.query(`CREATE DATABASE ${database}`));
	try {
		const config = loadConfig({
			NODE_ENV: "production",
			SECRETS_KEY: BENCH_SECRETS_KEY,
			DATABASE_URL: databaseUrl(database),
			TRANSPORTER,
			NAMESPACE: namespace,
			SERVICES: "reviews",
			OPS_PORT: "off",
			LOG_LEVEL: "warn",
			TRACING_EXPORTER: "none",
		});
		const options: AnalyzerOptions = { languages: config.nlp.languages, ratingWeight: config.nlp.ratingWeight };
		// Warm-up of the loop's code (and the default classifier's training) before anything is timed.
		plainLoop(reviews.slice(0, 200), options, config.nlp.keywords);

		node = await createNode(config);
		await node.start();
		db = new Client({ connectionString: databaseUrl(database) });
		await db.connect();
		const tenantId = randomUUID();
		const sourceId = randomUUID();

		console.log(`consumer path: ${REVIEWS} reviews stored in batches of ${STORE_BATCH}, NLP_BATCH_SIZE ${config.nlp.batchSize} …`);
		const collectedFrom = new Date();
		const began = Date.now();
		for (let start = 0; start < reviews.length; start += STORE_BATCH) {
			const result = await node.broker.call<StoreResult, object>("reviews.store", { tenantId, sourceId, reviews: reviews.slice(start, start + STORE_BATCH) }, systemCall());
			if (result.inserted !== Math.min(STORE_BATCH, reviews.length - start)) throw new Error(`stored ${JSON.stringify(result)}`);
		}
		const storedIn = (Date.now() - began) / 1000;
		const collectedLast = await waitForAnalysed(db, tenantId, collectedFrom, reviews.length);
		const collected = reviews.length / ((collectedLast - began) / 1000);

		const reanalysedFrom = new Date();
		const reBegan = Date.now();
		await node.broker.call("nlp.reanalyze", { sourceId }, { meta: { $system: true, tenantId } });
		const reanalysedLast = await waitForAnalysed(db, tenantId, reanalysedFrom, reviews.length);
		const reanalysed = reviews.length / ((reanalysedLast - reBegan) / 1000);

		console.log(`plain loop: the same ${REVIEWS} reviews …`);
		const loop = plainLoop(reviews, options, config.nlp.keywords);

		console.log("");
		console.log(`plain loop of the natural calls   ${loop.toFixed(0).padStart(7)} reviews/s`);
		console.log(`consumer path, collected (cold)   ${collected.toFixed(0).padStart(7)} reviews/s   ${(collected / loop).toFixed(2)} of the loop (storing included)`);
		console.log(`consumer path, reanalysed (warm)  ${reanalysed.toFixed(0).padStart(7)} reviews/s   ${(reanalysed / loop).toFixed(2)} of the loop (goal ≥ 0.5)`);
		console.log(`(reviews.store alone: ${(reviews.length / storedIn).toFixed(0)} reviews/s in batches of ${STORE_BATCH}, while the consumer analysed beside it)`);
	} finally {
		await db?.end().catch(() => undefined);
		await node?.stop().catch((err: Error) => console.error(`stopping the node: ${err.message}`));
		await withAdminClient((pg) => pg.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)).catch((err: Error) => console.error(`dropping ${database}: ${err.message}`));
		await dropStreams(namespace).catch((err: Error) => console.error(`dropping streams: ${err.message}`));
	}
}

main().then(
	() => process.exit(0),
	(err: Error) => {
		console.error(err);
		process.exit(1);
	},
);
