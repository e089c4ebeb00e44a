/**
 * Fails the test during which an answer broke the OpenAPI document (test/helpers/contract.ts collects them);
 * answers received in a file's beforeAll are reported with its first test, those of afterAll with the file.
 */
import { afterAll, afterEach } from "vitest";
import { takeViolations } from "./contract";

function failOnViolations(): void {
	const violations = takeViolations();
	if (violations.length > 0) throw new Error(`The OpenAPI document doesn't describe ${violations.length} answer(s) this test received:\n- ${violations.join("\n- ")}`);
}

afterEach(failOnViolations);
afterAll(failOnViolations);
