/**
 * The devices screenshot jobs can render on (GET /devices): Playwright's device descriptors and the App Store and
 * Google Play sizes (services/screenshots/devices.ts). The same for everyone and fixed for a release, so public
 * and answered from memory.
 */
import type { ServiceSchema } from "moleculer";
import { DeviceListSchema } from "./contracts";
import { DEVICES } from "./devices";

const ANSWER = Object.freeze({ devices: DEVICES });

const DevicesService: ServiceSchema = {
	name: "devices",
	actions: {
		listDevices: {
			rest: "GET /",
			auth: "public",
			responses: { 200: { description: "Every device, the stores' required sizes first", body: DeviceListSchema } },
			summary: "Devices a screenshot job can render on: Playwright's descriptors and the App Store and Google Play sizes",
			params: {},
			handler() {
				return ANSWER;
			},
		},
	},
};

export default DevicesService;
