import { describe, expect, it } from "vitest";
import { Errors } from "moleculer";
import ApiGateway from "moleculer-web";
import { bodyParserError, toProblem } from "../../lib/problem";
import { ConflictError, TooManyRequestsError } from "../../lib/errors";

describe("toProblem", () => {
	it("lists the offending fields of a validation error", () => {
		const err = new Errors.ValidationError("Parameters validation error!", "VALIDATION_ERROR", [
			{ type: "required", field: "email", message: "The 'email' field is required." },
			{ type: "stringMin", field: "password", message: "too short" },
		]);
		const { status, body, headers } = toProblem(err, "req-1", "/api/v1/x");
		expect(status).toBe(400);
		expect(headers["Content-Type"]).toMatch(/^application\/problem\+json/);
		expect(body).toMatchObject({ type: "/problems/validation-error", title: "Bad Request", status: 400, code: "VALIDATION_ERROR", requestId: "req-1", instance: "/api/v1/x" });
		expect(body.errors).toEqual([
			{ field: "email", message: "The 'email' field is required.", type: "required" },
			{ field: "password", message: "too short", type: "stringMin" },
		]);
	});

	it("maps 'no node can serve this' to 503 with Retry-After", () => {
		for (const err of [new Errors.ServiceNotFoundError({ action: "a.b" }), new Errors.ServiceNotAvailableError({ action: "a.b" })]) {
			const problem = toProblem(err);
			expect(problem.status).toBe(503);
			expect(problem.body.code).toBe("SERVICE_UNAVAILABLE");
			expect(problem.headers["Retry-After"]).toBeDefined();
		}
		expect(toProblem(new Errors.RequestTimeoutError({ action: "a.b", nodeID: "n" })).status).toBe(504);
	});

	it("carries a client error's data as extension members", () => {
		const problem = toProblem(new ConflictError("Can't move from paid to pending", "INVALID_TRANSITION", { from: "paid", to: "pending" }));
		expect(problem.body).toMatchObject({ status: 409, code: "INVALID_TRANSITION", from: "paid", to: "pending", detail: "Can't move from paid to pending" });
	});

	it("never leaks internals of a server fault", () => {
		const problem = toProblem(new Error("relation \"secret_table\" does not exist at 10.0.0.5"));
		expect(problem.status).toBe(500);
		expect(JSON.stringify(problem.body)).not.toContain("secret_table");
	});

	it("sets Retry-After on 429", () => {
		const problem = toProblem(new TooManyRequestsError(42));
		expect(problem.status).toBe(429);
		expect(problem.headers["Retry-After"]).toBe("42");
	});

	it("understands body-parser's errors", () => {
		expect(toProblem(Object.assign(new Error("too large"), { status: 413, type: "entity.too.large" })).body.code).toBe("PAYLOAD_TOO_LARGE");
		expect(toProblem(Object.assign(new Error("bad"), { status: 400, type: "entity.parse.failed" })).body.code).toBe("INVALID_JSON");
	});

	it("finding 3: a body that isn't data of its Content-Encoding, or broken multipart, is a 4xx of its own", () => {
		const zlibError = Object.assign(new Error("incorrect header check"), { errno: -3, code: "Z_DATA_ERROR", status: 400 });
		const mapped = bodyParserError(zlibError);
		expect(mapped).toBeInstanceOf(Errors.MoleculerClientError);
		expect(toProblem(mapped).body).toMatchObject({ status: 400, code: "INVALID_ENCODED_BODY" });
		const brotli = Object.assign(new Error("Decompression failed"), { errno: -15, code: "ERR__ERROR_FORMAT_PADDING_2", status: 400 });
		expect(toProblem(bodyParserError(brotli)).body.code).toBe("INVALID_ENCODED_BODY");
		const unknown = Object.assign(new Error('unsupported content encoding "foo"'), { status: 415, type: "encoding.unsupported" });
		expect(toProblem(bodyParserError(unknown)).body).toMatchObject({ status: 415, code: "UNSUPPORTED_ENCODING" });
		// A server-side error passes as it is.
		const internal = Object.assign(new Error("stream encoding should not be set"), { status: 500, type: "stream.encoding.set" });
		expect(bodyParserError(internal)).toBe(internal);
		for (const message of ["Unexpected end of multipart data", "Part terminated early due to unexpected end of multipart data", "Multipart: Boundary not found"]) {
			expect(toProblem(new Error(message)).body).toMatchObject({ status: 400, code: "INVALID_MULTIPART" });
		}
	});

	it("finding 1: moleculer-web's undecodable path parameter is 400 INVALID_PATH_ENCODING", () => {
		const err = new ApiGateway.Errors.BadRequestError("UNABLE_DECODE_PARAM", { param: "%ff" });
		expect(toProblem(err).body).toMatchObject({ status: 400, code: "INVALID_PATH_ENCODING" });
	});
});
