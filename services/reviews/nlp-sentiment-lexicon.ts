/**
 * What the sentiment scorer adds to AFINN-165 (natural's English vocabulary) for reviews of apps and businesses,
 * and the words that steer it. AFINN was built from tweets: it has no valence for "crash", "buggy", "laggy" or
 * "overpriced", the words app reviews complain with, and it scores some words by a sense reviews rarely mean
 * ("charged" as accused, "support" and "help" as kindness where reviews name a department, "please" as pleased
 * where reviews beg for a fix). Values are on AFINN's scale, -5 to 5.
 */

/** Valences that replace or extend AFINN's for English. */
export const REVIEW_VALENCES: Readonly<Record<string, number>> = {
	// Defects and speed: the vocabulary of one-star app reviews.
	crash: -2, crashes: -2, crashed: -2, crashing: -2, bug: -2, bugs: -2, buggy: -2, glitch: -2, glitches: -2, glitchy: -2,
	issue: -1, issues: -1, lag: -1, lags: -1, lagging: -2, laggy: -2, slow: -2, slower: -2, slowly: -1, sluggish: -2,
	freeze: -2, freezes: -2, freezing: -2, froze: -2, frozen: -1, unusable: -3, unresponsive: -2, broken: -2, broke: -2,
	unstable: -2, unreliable: -2, clunky: -2, cluttered: -1, outdated: -1, confusing: -2, unintuitive: -2, spam: -2,
	drains: -1, drain: -1, uninstall: -2, uninstalled: -2, uninstalling: -2, deleted: -1, junk: -3, garbage: -3,
	trash: -3, rubbish: -3, ripoff: -3, scammed: -3, overpriced: -2, expensive: -1, pricey: -1, overcharged: -2,
	refund: -1, unanswered: -2, stutter: -2, stutters: -2, stuttering: -2, choppy: -2, janky: -2, overheats: -2,
	overheating: -2, blank: -1, awkward: -1, paywall: -2, paywalled: -2, bloated: -2, demotivating: -2, ghosted: -2, waiting: -1, meh: -1, mediocre: -2, ads: -1, annoyingly: -2,
	// Praise AFINN lacks.
	intuitive: 2, smooth: 2, smoothly: 2, seamless: 2, seamlessly: 2, snappy: 2, fast: 1, quick: 1, quickly: 1,
	responsive: 1, stable: 1, lifesaver: 3, decent: 1, useful: 2, affordable: 2, simple: 1, easy: 2, easier: 2,
	works: 1, flawless: 3, flawlessly: 3, polished: 2, handy: 2, tasty: 3, professional: 2, knowledgeable: 2,
	// Senses reviews don't mean, or words that name a topic rather than judge it.
	please: 0, support: 0, help: 0, want: 0, wish: 0, free: 0, like: 1, pretty: 0, kind: 0, super: 2, charged: -1,
	pay: 0, joke: -2, fine: 0.5, ok: 0.5, okay: 0.5, alright: 0.5, hope: 0, hopefully: 0, improve: 0, improvement: 0, fix: -1,
	yes: 0, top: 1, cool: 2, fun: 3,
};

/** Words that turn the sentiment of the next few words around ("not good", "never crashes", "no problems"). */
export const NEGATORS: ReadonlySet<string> = new Set([
	"not", "no", "never", "neither", "nor", "none", "nobody", "nothing", "nowhere", "without", "cannot", "cant", "can't",
	"dont", "don't", "doesnt", "doesn't", "didnt", "didn't", "isnt", "isn't", "wasnt", "wasn't", "arent", "aren't",
	"werent", "weren't", "wont", "won't", "wouldnt", "wouldn't", "couldnt", "couldn't", "shouldnt", "shouldn't",
	"hasnt", "hasn't", "havent", "haven't", "hadnt", "hadn't", "aint", "ain't", "hardly", "barely", "rarely", "lacks",
	"lacking", "zero",
]);

/** Words that strengthen (> 1) or soften (< 1) the sentiment word after them. */
export const INTENSIFIERS: Readonly<Record<string, number>> = {
	very: 1.3, really: 1.3, so: 1.3, extremely: 1.5, super: 1.4, totally: 1.4, absolutely: 1.5, incredibly: 1.5,
	highly: 1.4, completely: 1.4, truly: 1.3, utterly: 1.5, insanely: 1.5, too: 1.3, most: 1.2, way: 1.2,
	especially: 1.2, seriously: 1.3, terribly: 1.4, amazingly: 1.4, ridiculously: 1.5, constantly: 1.3, always: 1.1,
	quite: 0.9, pretty: 0.85, fairly: 0.8, somewhat: 0.6, slightly: 0.5, kinda: 0.6, sorta: 0.6, bit: 0.6,
	little: 0.7, mostly: 0.8, almost: 0.7, marginally: 0.5,
};

/** Words that make what follows hypothetical ("would be great if", "I wish it had"): their sentiment counts less. */
export const HYPOTHETICAL: ReadonlySet<string> = new Set(["would", "could", "should", "if", "wish", "hope", "hoping", "maybe", "might"]);

/** Sentiment words whose meaning survives a hypothetical ("would recommend", "could not be happier"). */
export const HYPOTHETICAL_EXEMPT: ReadonlySet<string> = new Set(["recommend", "recommended", "happier", "better", "worse"]);

/** Words after which a sentence's second half outweighs its first ("nice design, but it crashes all the time"). */
export const CONTRASTS: ReadonlySet<string> = new Set(["but", "however", "although", "though", "except", "unfortunately", "sadly"]);

/**
 * Phrases whose sentiment their words don't carry ("takes forever", "no reply", "rip off"), read as one unit;
 * a phrase with its own negation ("no reply") is not negated again by it.
 */
export const REVIEW_PHRASES: Readonly<Record<string, number>> = {
	"takes forever": -2, "took forever": -2, "taking forever": -2, "takes ages": -2, "took ages": -2, "loads forever": -2,
	"on hold": -1, "no reply": -2, "no response": -2, "no answer": -2, "never replied": -2, "never answered": -2,
	"never responded": -2, "not a single reply": -3, "heard nothing back": -2, "locked out": -2, "logged out": -1,
	"force quit": -2, "rip off": -3, "pay to win": -2, "money grab": -3, "waste of time": -3, "waste of money": -3,
	"don't bother": -2, "dont bother": -2, "gave up": -2, "give up": -1, "no idea": -1, "doesn't work": -2,
	"does not work": -2, "don't work": -2, "not working": -2, "stopped working": -2, "won't open": -2, "won't load": -2,
	"can't live without": 3, "cannot live without": 3, "can't imagine": 2, "can't say enough good": 3,
	"can't recommend enough": 3, "can't recommend it enough": 3, "no complaints": 2, "not a single complaint": 3,
	"nothing to complain about": 2, "works like a charm": 3, "does the job": 0.5, "does what it says": 1,
	"don't like": -2, "dont like": -2, "didn't like": -2, "do not like": -2, "did not like": -2, "doesn't help": -1,
	"through the roof": -1, "not bad": 1.5, "not too bad": 1, "no problems": 2, "no issues": 2,
};

/** "It used to be great": what follows is lost, so its sentiment turns around (damped). */
export const NOSTALGIA = ["used", "to"] as const;
