/**
 * The review NLP on its own (services/reviews/nlp-*.ts), no broker: accuracy on a labelled set of app and
 * business reviews written for this test (test/fixtures/reviews-labelled.json: text, star rating, sentiment
 * label, topic), which is not the classifier's training data (services/reviews/nlp-data/topics-training.json),
 * and the rules the accuracy rests on: negation, intensifiers, contrast, the rating prior, entities, keywords
 * against a corpus, per-tenant training.
 */
import { describe, expect, it } from "vitest";
import fixture from "../fixtures/reviews-labelled.json";
import training from "../../services/reviews/nlp-data/topics-training.json";
import { analyseText, type AnalyzerOptions } from "../../services/reviews/nlp-analyzer";
import { defaultTopicClassifier, restoreClassifier, serialiseClassifier, topicsOf, trainClassifier, defaultExamplesFor } from "../../services/reviews/nlp-topics";
import { sentimentOf } from "../../services/reviews/nlp-sentiment";
import { tokenize } from "../../services/reviews/nlp-text";
import { entitiesOf } from "../../services/reviews/nlp-entities";
import { keywordTerms, keywordsOf } from "../../services/reviews/nlp-keywords";
import { detectLanguage } from "../../services/reviews/nlp-language";
import { DEFAULT_NLP_LANGUAGES } from "../../lib/config/reviews";
import { DEFAULT_TOPICS, SENTIMENT_LABELS } from "../../services/reviews/contracts";

interface Labelled {
	text: string;
	rating: number;
	sentiment: string;
	topic: string;
}

const labelled = fixture as Labelled[];
const options: AnalyzerOptions = { languages: DEFAULT_NLP_LANGUAGES, ratingWeight: 0.35 };

function sentimentLabel(text: string, rating: number | null = null, weight = 0): string {
	return sentimentOf(tokenize(text), "en", rating, weight).label;
}

describe("the labelled set", () => {
	it("has at least 200 reviews with a known label and topic, none of them a training example", () => {
		expect(labelled.length).toBeGreaterThanOrEqual(200);
		for (const review of labelled) {
			expect(SENTIMENT_LABELS).toContain(review.sentiment);
			expect(DEFAULT_TOPICS).toContain(review.topic);
			expect(review.rating).toBeGreaterThanOrEqual(1);
		}
		const normalise = (text: string) => text.toLowerCase().replace(/[^a-z0-9]+/g, " ").trim();
		const trained = new Set(training.map((example) => normalise(example.text)));
		expect(labelled.filter((review) => trained.has(normalise(review.text)))).toEqual([]);
		for (const topic of DEFAULT_TOPICS) expect(labelled.filter((review) => review.topic === topic).length, topic).toBeGreaterThanOrEqual(20);
	});
});

describe("accuracy on the labelled set", () => {
	const classifier = defaultTopicClassifier();
	const results = labelled.map((review) => ({ review, analysis: analyseText({ title: null, body: review.text, rating: review.rating, language: null }, classifier, options) }));
	const share = (hits: number) => hits / labelled.length;

	it("labels sentiment right for at least 80% of the reviews (text and star rating)", () => {
		const accuracy = share(results.filter(({ review, analysis }) => analysis.sentiment.label === review.sentiment).length);
		console.log(`sentiment accuracy ${accuracy.toFixed(3)} (${labelled.length} reviews)`);
		expect(accuracy).toBeGreaterThanOrEqual(0.8);
	});

	it("labels sentiment right for at least 75% of the reviews from the text alone (no rating prior)", () => {
		const accuracy = share(labelled.filter((review) => sentimentLabel(review.text) === review.sentiment).length);
		console.log(`sentiment accuracy, text alone ${accuracy.toFixed(3)}`);
		expect(accuracy).toBeGreaterThanOrEqual(0.75);
	});

	it("gives the right topic first for at least 70% of the reviews", () => {
		const accuracy = share(results.filter(({ review, analysis }) => analysis.topics[0] === review.topic).length);
		console.log(`topic accuracy ${accuracy.toFixed(3)}`);
		expect(accuracy).toBeGreaterThanOrEqual(0.7);
	});
});

describe("sentiment rules", () => {
	it("turns negated words around, and a phrase carrying its own negation stays as it says", () => {
		expect(sentimentLabel("This app is good.")).toBe("positive");
		expect(sentimentLabel("This app is not good.")).toBe("negative");
		expect(sentimentLabel("Never crashes, no problems at all.")).toBe("positive");
		expect(sentimentLabel("Not bad at all.")).toBe("positive");
		expect(sentimentLabel("I don't like the new design")).toBe("negative");
		expect(sentimentLabel("No reply from support after two weeks")).toBe("negative");
		// natural's own scoring would flip everything after the first "not": the negation reaches three words.
		expect(sentimentLabel("Not sure why, but the new version is great and I love it")).toBe("positive");
	});

	it("weighs intensifiers, contrast and hypotheticals", () => {
		const score = (text: string) => sentimentOf(tokenize(text), "en", null, 0).score;
		expect(score("very slow")).toBeLessThan(score("slow"));
		expect(score("a bit slow")).toBeGreaterThan(score("slow"));
		expect(sentimentLabel("Nice design, but it crashes all the time and loses my data")).toBe("negative");
		expect(score("It would be great if it had widgets")).toBeLessThan(score("It is great"));
		expect(sentimentLabel("It used to work great")).toBe("negative");
	});

	it("takes the star rating as a prior, and the rating alone when the text says nothing", () => {
		expect(sentimentOf(tokenize("Downloaded it yesterday."), "en", 5, 0.35).label).toBe("positive");
		expect(sentimentOf(tokenize("Downloaded it yesterday."), "en", 5, 0).label).toBe("neutral");
		expect(sentimentOf(tokenize("Great!"), "en", 1, 0.35).score).toBeLessThan(sentimentOf(tokenize("Great!"), "en", null, 0.35).score);
	});

	it("scores German, Spanish and French text with natural's vocabularies of those languages", () => {
		expect(sentimentOf(tokenize("Die App ist sehr schlecht"), "de", null, 0).label).toBe("negative");
		expect(sentimentOf(tokenize("La aplicación es excelente"), "es", null, 0).label).toBe("positive");
		expect(sentimentOf(tokenize("C'est une excellente application"), "fr", null, 0).label).toBe("positive");
	});
});

describe("language, entities and keywords", () => {
	it("detects the language, preferring the source's for texts too short to tell", () => {
		expect(detectLanguage("Die App stürzt nach dem letzten Update ständig ab", DEFAULT_NLP_LANGUAGES, null)).toBe("de");
		expect(detectLanguage("L'application plante sans arrêt depuis la mise à jour", DEFAULT_NLP_LANGUAGES, null)).toBe("fr");
		expect(detectLanguage("The app keeps crashing after the last update", DEFAULT_NLP_LANGUAGES, "de")).toBe("en");
		expect(detectLanguage("ok", DEFAULT_NLP_LANGUAGES, "en")).toBe("en");
		expect(detectLanguage("ok", DEFAULT_NLP_LANGUAGES, null)).toBeNull();
	});

	it("finds versions, money, features, people and places", () => {
		const text = "Since v2.3.1 push notifications are broken. I pay $4.99 for this! Support agent Maria Lopez in New York said version 3 fixes it.";
		expect(entitiesOf(text, tokenize(text))).toEqual(
			expect.arrayContaining([
				{ type: "version", text: "v2.3.1", value: "2.3.1" },
				{ type: "version", text: "version 3", value: "3" },
				{ type: "money", text: "$4.99", value: "4.99 USD" },
				{ type: "feature", text: "push notifications", value: "notifications" },
				{ type: "person", text: "Maria Lopez", value: "Maria Lopez" },
				{ type: "place", text: "New York", value: "New York" },
			]),
		);
		expect(entitiesOf("Night mode please", tokenize("Night mode please"))).toEqual([{ type: "feature", text: "Night mode", value: "dark mode" }]);
	});

	it("ranks keywords by TF-IDF against the tenant's corpus: a term every review has ranks below a rare one", () => {
		const terms = keywordTerms(tokenize("The battery drain is terrible, battery dies by noon. Sync works."));
		expect(terms).toEqual(expect.arrayContaining(["battery", "drain", "battery drain", "sync"]));
		const corpus = { documents: 1000, frequency: (term: string) => (term === "sync" ? 900 : term.includes("battery") ? 20 : 100) };
		const [keywords] = keywordsOf([terms], corpus, 3);
		expect(keywords[0].term).toBe("battery");
		expect(keywords.map((keyword) => keyword.term)).not.toContain("sync");
	});
});

describe("topic classifiers", () => {
	it("trains a tenant classifier with its own topic from labels, and survives serialisation", () => {
		const labels = [
			"The courier left my parcel in the rain",
			"Package arrived a week late",
			"Tracking number never updated and the parcel is lost",
			"Delivery was quick, parcel came the next day",
			"The shipment was damaged in transit",
		].map((text) => ({ text, topic: "shipping" }));
		const classifier = trainClassifier(defaultExamplesFor([...DEFAULT_TOPICS, "shipping"]), labels);
		const restored = restoreClassifier(serialiseClassifier(classifier));
		expect(topicsOf(restored, "My parcel was delivered to the wrong house by the courier")[0]).toBe("shipping");
		expect(topicsOf(restored, "The app crashes when I open it")[0]).toBe("bugs");
		expect(topicsOf(defaultTopicClassifier(), "My parcel was delivered to the wrong house by the courier")).not.toContain("shipping");
		expect(topicsOf(defaultTopicClassifier(), "zzz qqq")).toEqual(["other"]);
	});
});
