/**
 * Each tenant's corpus for TF-IDF, kept in the nlp schema: how many of the tenant's analysed reviews there are
 * (`corpus`), how many contain each term (`term_stats`), and which terms each review was counted with
 * (`corpus_documents`). Counting a batch replaces a review's earlier terms rather than adding to them, so a
 * redelivered message, a re-analysis or an edited review never counts twice. One tenant's updates take a
 * transaction-scoped advisory lock, so two nlp nodes analysing the same tenant's reviews at once don't both
 * count a review as new.
 */
import { QueryTypes, type Sequelize } from "sequelize";
import type { CorpusFrequencies } from "./nlp-keywords";

const SCHEMA = "nlp";

export interface CountedDocument {
	reviewId: string;
	/** The review's distinct terms. */
	terms: string[];
}

/** Counts the batch into the tenant's corpus and answers the frequencies its TF-IDF needs (the batch included). */
export async function countIntoCorpus(db: Sequelize, tenantId: string, documents: CountedDocument[]): Promise<CorpusFrequencies> {
	return db.transaction(async (transaction) => {
		const query = <T extends object>(sql: string, bind: unknown[]) => db.query<T>(sql, { bind, type: QueryTypes.SELECT, transaction });
		await query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`nlp-corpus:${tenantId}`]);
		const earlier = await query<{ review_id: string; terms: string[] }>(
			`SELECT review_id, terms FROM "${SCHEMA}".corpus_documents WHERE review_id = ANY($1::uuid[])`,
			[documents.map((document) => document.reviewId)],
		);
		const before = new Map(earlier.map((row) => [row.review_id, row.terms]));
		const deltas = new Map<string, number>();
		const shift = (term: string, by: number) => deltas.set(term, (deltas.get(term) ?? 0) + by);
		for (const document of documents) {
			for (const term of before.get(document.reviewId) ?? []) shift(term, -1);
			for (const term of document.terms) shift(term, 1);
		}
		const newDocuments = documents.filter((document) => !before.has(document.reviewId)).length;

		await query(
			`INSERT INTO "${SCHEMA}".corpus_documents (review_id, tenant_id, terms)
			SELECT review_id, $1, terms FROM jsonb_to_recordset($2::jsonb) AS x(review_id uuid, terms text[])
			ON CONFLICT (review_id) DO UPDATE SET terms = EXCLUDED.terms`,
			[tenantId, JSON.stringify(documents.map((document) => ({ review_id: document.reviewId, terms: document.terms })))],
		);
		const changed = [...deltas].filter(([, delta]) => delta !== 0);
		if (changed.length > 0) {
			await query(
				`INSERT INTO "${SCHEMA}".term_stats (tenant_id, term, documents)
				SELECT $1, term, delta FROM unnest($2::text[], $3::int[]) AS x(term, delta)
				ON CONFLICT (tenant_id, term) DO UPDATE SET documents = term_stats.documents + EXCLUDED.documents`,
				[tenantId, changed.map(([term]) => term), changed.map(([, delta]) => delta)],
			);
		}
		const [corpus] = await query<{ documents: number }>(
			`INSERT INTO "${SCHEMA}".corpus (tenant_id, documents) VALUES ($1, $2)
			ON CONFLICT (tenant_id) DO UPDATE SET documents = corpus.documents + EXCLUDED.documents RETURNING documents`,
			[tenantId, newDocuments],
		);
		const terms = [...new Set(documents.flatMap((document) => document.terms))];
		const stats = await query<{ term: string; documents: number }>(
			`SELECT term, documents FROM "${SCHEMA}".term_stats WHERE tenant_id = $1 AND term = ANY($2::text[])`,
			[tenantId, terms],
		);
		const frequencies = new Map(stats.map((row) => [row.term, row.documents]));
		return { documents: corpus.documents, frequency: (term: string) => frequencies.get(term) ?? 0 };
	});
}
