/**
 * Hosts of ad networks and trackers whose requests `blockAds` aborts: a short list of the networks that serve
 * most of the web's ads and analytics beacons (the domains of EasyList's and EasyPrivacy's most frequent
 * rules), matched on the host and every parent domain, so `securepubads.g.doubleclick.net` is blocked by
 * `doubleclick.net`. A page renders without them: what stays is the page itself.
 */
const AD_AND_TRACKER_DOMAINS = new Set([
	"doubleclick.net",
	"googlesyndication.com",
	"googleadservices.com",
	"google-analytics.com",
	"googletagmanager.com",
	"googletagservices.com",
	"adservice.google.com",
	"adnxs.com",
	"adsrvr.org",
	"amazon-adsystem.com",
	"criteo.com",
	"criteo.net",
	"taboola.com",
	"outbrain.com",
	"pubmatic.com",
	"rubiconproject.com",
	"openx.net",
	"casalemedia.com",
	"smartadserver.com",
	"moatads.com",
	"scorecardresearch.com",
	"quantserve.com",
	"adform.net",
	"advertising.com",
	"yieldmo.com",
	"33across.com",
	"sharethrough.com",
	"teads.tv",
	"media.net",
	"bidswitch.net",
	"contextweb.com",
	"lijit.com",
	"sonobi.com",
	"indexww.com",
	"adroll.com",
	"zemanta.com",
	"connect.facebook.net",
	"analytics.tiktok.com",
	"ads-twitter.com",
	"static.ads-twitter.com",
	"analytics.twitter.com",
	"px.ads.linkedin.com",
	"snap.licdn.com",
	"bat.bing.com",
	"clarity.ms",
	"hotjar.com",
	"mouseflow.com",
	"fullstory.com",
	"segment.io",
	"segment.com",
	"mixpanel.com",
	"amplitude.com",
	"heap.io",
	"hubspot.com",
	"hs-analytics.net",
	"hs-scripts.com",
	"newrelic.com",
	"nr-data.net",
	"optimizely.com",
	"chartbeat.com",
	"parsely.com",
	"quantcount.com",
	"mc.yandex.ru",
]);

/** True when the host or one of its parent domains is on the list. */
export function isAdOrTrackerHost(host: string): boolean {
	const labels = host.toLowerCase().replace(/\.$/, "").split(".");
	for (let start = 0; start < labels.length - 1; start += 1) {
		if (AD_AND_TRACKER_DOMAINS.has(labels.slice(start).join("."))) return true;
	}
	return false;
}
