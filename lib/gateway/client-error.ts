/**
 * Answers written straight to a socket, for requests Node's HTTP parser refused before there was a request
 * or a response object (a request line or headers over `maxHeaderSize`, 16 KB; a malformed request line or
 * header; a request that took too long to arrive). Without a 'clientError' listener Node answers these with
 * a bare status line; with this one they are problem+json like every other error.
 */
import { maxHeaderSize, type Server } from "node:http";
import type { Duplex } from "node:stream";
import { Errors, type Logger } from "moleculer";
import { toProblem, type ProblemResponse } from "../problem";
import { BadRequestError } from "../errors";

/** Node's parser errors as client errors: too large (431), too slow (408), anything else malformed (400). */
export function parserError(err: Error & { code?: string }): Error {
	if (err.code === "HPE_HEADER_OVERFLOW") {
		return new Errors.MoleculerClientError(`The request line and headers are larger than this server accepts (${Math.round(maxHeaderSize / 1024)} KB)`, 431, "REQUEST_HEADERS_TOO_LARGE");
	}
	if (err.code === "ERR_HTTP_REQUEST_TIMEOUT") return new Errors.MoleculerClientError("The request took too long to arrive", 408, "REQUEST_TIMEOUT");
	return new BadRequestError("The request is not well-formed HTTP/1.1", "MALFORMED_REQUEST");
}

/** A problem as a whole HTTP/1.1 message that closes the connection, with the given headers added. */
export function rawProblemMessage(problem: ProblemResponse, headers: Array<[string, string]> = []): string {
	const body = JSON.stringify(problem.body);
	const all: Array<[string, string]> = [
		...headers,
		...Object.entries(problem.headers),
		["Cache-Control", "no-store"],
		["Content-Length", String(Buffer.byteLength(body))],
		["Connection", "close"],
	];
	return `HTTP/1.1 ${problem.status} ${problem.body.title}\r\n${all.map(([name, value]) => `${name}: ${value}`).join("\r\n")}\r\n\r\n${body}`;
}

/**
 * Makes `server` answer its parser's refusals as problem+json. `headers` are added to each answer (the
 * gateway's security headers); a connection that is already gone is just closed.
 */
export function answerClientErrors(server: Server, logger: Logger, headers: Array<[string, string]> = [], newRequestId?: () => string): void {
	server.on("clientError", (err: Error & { code?: string }, socket: Duplex) => {
		// As Node's own handler: nothing can be written to a connection that is gone, or in the middle of an answer.
		const answering = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
		if (err.code === "ECONNRESET" || !socket.writable || answering) {
			socket.destroy();
			return;
		}
		const problem = toProblem(parserError(err), newRequestId?.());
		const requestId = problem.body.requestId;
		logger.debug(`Refused a malformed request (${err.code ?? err.message}): ${problem.status}`);
		socket.end(rawProblemMessage(problem, requestId ? [...headers, ["X-Request-ID", requestId]] : headers));
	});
}
