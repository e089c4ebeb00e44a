/**
 * The deployment files are never run here (no container engine, no cluster), so this test holds them to the
 * same rules the code enforces at start: every role's effective environment must pass `loadConfig`, probes
 * must hit the port the role really listens on, and every domain must be run by some role.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { assertDatabaseAvailable, availableDomains, domainServiceNames, loadConfig, PROJECT_ROOT, type PlatformConfig } from "../../lib/config";

type Env = Record<string, string | undefined>;
type Obj = Record<string, unknown>;

const K8S_DIR = path.join(PROJECT_ROOT, "k8s");

function readText(relative: string): string {
	return fs.readFileSync(path.join(PROJECT_ROOT, relative), "utf8");
}

function isObj(value: unknown): value is Obj {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

function obj(value: unknown, what: string): Obj {
	if (!isObj(value)) throw new Error(`${what} is not a mapping`);
	return value;
}

function list(value: unknown): unknown[] {
	return Array.isArray(value) ? value : [];
}

/** Compose and k8s both allow numbers and booleans where the process will see a string. */
function scalar(value: unknown): string | undefined {
	if (value === null || value === undefined) return undefined;
	if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return String(value);
	throw new Error(`expected a scalar, got ${JSON.stringify(value)}`);
}

/** `loadConfig`, with the failing role named in the message. */
function configOf(env: Env, where: string): PlatformConfig {
	try {
		return loadConfig(env);
	} catch (error) {
		throw new Error(`${where}: ${(error as Error).message}`);
	}
}

/** Everything a role's config must satisfy wherever it runs (compose or k8s). */
function expectClusterReady(env: Env, where: string): void {
	const config = configOf(env, where);
	expect(() => assertDatabaseAvailable(config, true), where).not.toThrow();
	expect(config.transporter, `${where}: TRANSPORTER`).toBeDefined();
	expect(env.SERVICES?.trim(), `${where}: SERVICES`).toBeTruthy();
}

/** Port of the listener that answers /healthz and /readyz for a node with this config. */
function probePort(config: PlatformConfig): number | undefined {
	return config.services.includes("gateway") ? config.http.port : config.opsPort;
}

// ---- Compose helpers ---------------------------------------------------------------------------------------

/**
 * Compose's variable substitution, resolved as if the operator's shell set nothing: `${VAR:-default}` and
 * `${VAR-default}` take the default, `${VAR:?message}` fails, `$$` is a literal dollar.
 */
function interpolate(value: string, host: Env = {}): string {
	return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (match, braced, colon, op, arg, bare) => {
		if (match === "$$") return "$";
		const name = (braced ?? bare) as string;
		const current = host[name];
		const missing = current === undefined || (colon === ":" && current === "");
		if (op === "?" && missing) throw new Error(`compose requires ${name}: ${arg}`);
		if (op === "-" && missing) return arg as string;
		return current ?? "";
	});
}

function composeEnvironment(service: Obj): Env {
	const env: Env = {};
	const raw = service.environment;
	if (Array.isArray(raw)) {
		for (const entry of raw) {
			const text = String(entry);
			const eq = text.indexOf("=");
			// A bare `NAME` passes the host's value through; the host sets nothing here.
			if (eq === -1) env[text] = undefined;
			else env[text.slice(0, eq)] = interpolate(text.slice(eq + 1));
		}
	} else if (isObj(raw)) {
		for (const [name, value] of Object.entries(raw)) {
			const text = scalar(value);
			env[name] = text === undefined ? undefined : interpolate(text);
		}
	}
	return env;
}

function commandWords(command: unknown): string[] {
	if (typeof command === "string") return command.split(/\s+/).filter(Boolean);
	return list(command).map(String);
}

/** The healthcheck's test as one string, whatever form (CMD list, CMD-SHELL, plain string) it takes. */
function healthcheckText(service: Obj): string {
	const healthcheck = isObj(service.healthcheck) ? service.healthcheck : {};
	const test = healthcheck.test;
	return typeof test === "string" ? test : list(test).map(String).join(" ");
}

// ---- Kubernetes helpers ------------------------------------------------------------------------------------

interface Manifest {
	file: string;
	kind: string;
	name: string;
	namespace: string;
	body: Obj;
}

function loadManifests(): Manifest[] {
	const manifests: Manifest[] = [];
	for (const file of yamlFiles(K8S_DIR)) {
		for (const doc of parseAllDocuments(fs.readFileSync(path.join(K8S_DIR, file), "utf8"))) {
			// Broken documents are reported by the parse test; skipping them keeps the other checks readable.
			if (doc.errors.length > 0) continue;
			const body = doc.toJS() as unknown;
			if (body === null || body === undefined) continue;
			const root = obj(body, file);
			const metadata = isObj(root.metadata) ? root.metadata : {};
			manifests.push({
				file,
				kind: String(root.kind),
				name: String(metadata.name),
				namespace: String(metadata.namespace ?? "default"),
				body: root,
			});
		}
	}
	return manifests;
}

function yamlFiles(dir: string): string[] {
	return fs
		.readdirSync(dir)
		.filter((file) => /\.ya?ml$/.test(file))
		.sort();
}

function podSpec(deployment: Manifest): Obj {
	const spec = obj(deployment.body.spec, `${deployment.name}.spec`);
	const template = obj(spec.template, `${deployment.name}.spec.template`);
	return obj(template.spec, `${deployment.name}.spec.template.spec`);
}

function podLabels(deployment: Manifest): Obj {
	const template = obj(obj(deployment.body.spec, "spec").template, "template");
	return isObj(template.metadata) && isObj(template.metadata.labels) ? template.metadata.labels : {};
}

function containers(deployment: Manifest): Obj[] {
	return list(podSpec(deployment).containers).map((container, i) => obj(container, `${deployment.name} container ${i}`));
}

/** Keys a ConfigMap or Secret provides, as the container would see them (Secret `data` is base64). */
function sourceValues(manifests: Manifest[], kind: "ConfigMap" | "Secret", name: string, namespace: string): Env | undefined {
	const source = manifests.find((m) => m.kind === kind && m.name === name && m.namespace === namespace);
	if (!source) return undefined;
	const values: Env = {};
	for (const [key, value] of Object.entries(isObj(source.body.data) ? source.body.data : {})) {
		values[key] = kind === "Secret" ? Buffer.from(String(value), "base64").toString("utf8") : scalar(value);
	}
	if (kind === "Secret") {
		for (const [key, value] of Object.entries(isObj(source.body.stringData) ? source.body.stringData : {})) {
			values[key] = scalar(value);
		}
	}
	return values;
}

/**
 * The environment a container starts with: `envFrom` sources in order, then `env` entries on top, as the
 * kubelet does. A `fieldRef` stands for a per-pod value such as the pod name.
 */
function containerEnv(manifests: Manifest[], deployment: Manifest, container: Obj): Env {
	const env: Env = {};
	const where = `${deployment.file}: ${deployment.name}`;
	for (const entry of list(container.envFrom).map((e) => obj(e, `${where} envFrom`))) {
		const prefix = String(entry.prefix ?? "");
		const ref = isObj(entry.configMapRef) ? entry.configMapRef : isObj(entry.secretRef) ? entry.secretRef : undefined;
		if (!ref) throw new Error(`${where}: envFrom entry without configMapRef or secretRef`);
		const kind = isObj(entry.configMapRef) ? "ConfigMap" : "Secret";
		const values = sourceValues(manifests, kind, String(ref.name), deployment.namespace);
		if (!values) {
			if (ref.optional === true) continue;
			throw new Error(`${where}: envFrom names ${kind} ${String(ref.name)}, which k8s/ does not define in ${deployment.namespace}`);
		}
		for (const [key, value] of Object.entries(values)) env[prefix + key] = value;
	}
	for (const entry of list(container.env).map((e) => obj(e, `${where} env`))) {
		const name = String(entry.name);
		if ("value" in entry) {
			env[name] = scalar(entry.value) ?? "";
			continue;
		}
		const from = obj(entry.valueFrom, `${where} env ${name}`);
		if (isObj(from.fieldRef)) env[name] = "pod-name";
		else if (isObj(from.resourceFieldRef)) env[name] = "1";
		else {
			const keyRef = isObj(from.configMapKeyRef) ? from.configMapKeyRef : obj(from.secretKeyRef, `${where} env ${name}`);
			const kind = isObj(from.configMapKeyRef) ? "ConfigMap" : "Secret";
			env[name] = sourceValues(manifests, kind, String(keyRef.name), deployment.namespace)?.[String(keyRef.key)];
			if (env[name] === undefined && keyRef.optional !== true) throw new Error(`${where}: env ${name} refers to a missing ${kind} key`);
		}
	}
	return env;
}

/** A probe's or Service's port as a number, looking named ports up among the container's ports. */
function resolvePort(port: unknown, container: Obj): number | undefined {
	if (typeof port === "number") return port;
	const named = list(container.ports).map((p) => obj(p, "port")).find((p) => p.name === port);
	return typeof named?.containerPort === "number" ? named.containerPort : undefined;
}

function probe(container: Obj, kind: "livenessProbe" | "readinessProbe"): { path?: string; port?: number } {
	const httpGet = isObj(container[kind]) && isObj(container[kind].httpGet) ? container[kind].httpGet : {};
	return { path: typeof httpGet.path === "string" ? httpGet.path : undefined, port: resolvePort(httpGet.port, container) };
}

function selects(selector: Obj, labels: Obj): boolean {
	return Object.keys(selector).length > 0 && Object.entries(selector).every(([key, value]) => labels[key] === value);
}

function component(deployment: Manifest): unknown {
	return podLabels(deployment)["app.kubernetes.io/component"];
}

/** Every service as `<domain>/<service>`. */
function everyService(): string[] {
	return availableDomains().flatMap((domain) => domainServiceNames(domain).map((service) => `${domain}/${service}`));
}

/** What SERVICES entries run: a whole domain ("commerce") is each of its services; "screenshots/devices" is one. */
function hostedServices(entries: string[]): Set<string> {
	return new Set(entries.flatMap((entry) => (entry.includes("/") ? [entry] : domainServiceNames(entry).map((service) => `${entry}/${service}`))));
}

// ---- docker-compose.yml ------------------------------------------------------------------------------------

describe("docker-compose.yml", () => {
	const compose = obj(parse(readText("docker-compose.yml"), { merge: true }), "docker-compose.yml");
	const services = obj(compose.services, "services");
	// Platform roles are the services built from this repository; infrastructure comes from public images.
	const roles = Object.entries(services)
		.map(([name, service]) => ({ name, service: obj(service, name) }))
		.filter(({ service }) => service.build !== undefined);
	const configFor = (name: string): PlatformConfig => configOf(composeEnvironment(obj(services[name], name)), `compose service ${name}`);

	it("follows the compose spec (no obsolete version key)", () => {
		expect(compose).not.toHaveProperty("version");
	});

	it("runs the infrastructure Lattice talks to", () => {
		const nats = obj(services.nats, "nats");
		expect(String(nats.image)).toMatch(/^nats:2\.10/);
		expect(commandWords(nats.command)).toContain("-js");
		expect(String(obj(services.postgres, "postgres").image)).toMatch(/^postgres:16/);
		expect(healthcheckText(obj(services.postgres, "postgres"))).toContain("pg_isready");
		expect(String(obj(services.redis, "redis").image)).toMatch(/^redis:7/);
		const minio = obj(services.minio, "minio");
		expect(String(minio.image)).toMatch(/^minio\/minio/);
		expect(commandWords(minio.command).join(" ")).toBe("server /data --console-address :9001");
		const mailpit = obj(services.mailpit, "mailpit");
		expect(String(mailpit.image)).toMatch(/^axllent\/mailpit/);
		expect(list(mailpit.ports).map(String).join(" ")).toMatch(/1025.*8025/);
	});

	it("splits the platform into a gateway role and at least two service roles", () => {
		const gateways = roles.filter(({ name }) => configFor(name).services.includes("gateway"));
		const serviceRoles = roles.filter(({ name }) => !configFor(name).services.includes("gateway"));
		expect(gateways.map(({ name }) => name)).toContain("gateway");
		expect(serviceRoles.length).toBeGreaterThanOrEqual(2);
		expect(configFor("gateway").services).toContain("gateway");
		expect(roles.some(({ service }) => isObj(service.deploy) && Number(service.deploy.replicas) >= 2), "a replicated role").toBe(true);
	});

	it("gives every role an environment that loadConfig accepts as a cluster node", () => {
		for (const { name, service } of roles) expectClusterReady(composeEnvironment(service), `compose service ${name}`);
	});

	it("waits for healthy postgres, nats and redis before starting a role", () => {
		for (const { name, service } of roles) {
			const dependsOn = obj(service.depends_on, `${name}.depends_on`);
			for (const infra of ["postgres", "nats", "redis"]) {
				expect(obj(dependsOn[infra], `${name} depends_on ${infra}`).condition, `${name} → ${infra}`).toBe("service_healthy");
				expect(healthcheckText(obj(services[infra], infra)), `${infra} needs a healthcheck to be waited on`).not.toBe("");
			}
		}
	});

	it("health-checks each role on the port it actually serves /readyz on", () => {
		for (const { name, service } of roles) {
			const port = probePort(configFor(name));
			expect(port, `${name} has a health listener`).toBeDefined();
			expect(healthcheckText(service), name).toMatch(new RegExp(`:${port}/readyz\\b`));
		}
	});

	it("finding 6: every role serves /metrics on an ops port of its own, which compose does not publish", () => {
		for (const { name, service } of roles) {
			const config = configFor(name);
			expect(config.opsPort, `${name} has an ops listener`).toBeDefined();
			if (config.services.includes("gateway")) expect(config.opsPort, `${name}: ops and API on one port`).not.toBe(config.http.port);
			const published = list(service.ports).map((port) => String(port).split(":").pop()?.split("/")[0]);
			expect(published, `${name} publishes its ops port`).not.toContain(String(config.opsPort));
		}
	});

	it("gives every service of every domain under services/ a role that runs it", () => {
		const hosted = hostedServices(roles.flatMap(({ name }) => configFor(name).services));
		for (const service of everyService()) expect(hosted.has(service), `${service} has no compose role`).toBe(true);
	});
});

// ---- k8s/ --------------------------------------------------------------------------------------------------

describe("k8s manifests", () => {
	it("parses every file", () => {
		for (const file of yamlFiles(K8S_DIR)) {
			const docs = parseAllDocuments(fs.readFileSync(path.join(K8S_DIR, file), "utf8"));
			for (const doc of docs) expect(doc.errors.map(String), file).toEqual([]);
		}
	});

	const manifests = loadManifests();
	const deployments = manifests.filter((m) => m.kind === "Deployment");
	const configFor = (deployment: Manifest, container: Obj): PlatformConfig =>
		configOf(containerEnv(manifests, deployment, container), `${deployment.file}: ${deployment.name}`);
	const isGateway = (deployment: Manifest): boolean =>
		containers(deployment).some((container) => configFor(deployment, container).services.includes("gateway"));

	it("has a gateway Deployment and at least two service Deployments", () => {
		expect(deployments.filter(isGateway).length).toBeGreaterThanOrEqual(1);
		expect(deployments.filter((d) => !isGateway(d)).length).toBeGreaterThanOrEqual(2);
	});

	it("gives every container an environment that loadConfig accepts as a cluster node", () => {
		for (const deployment of deployments) {
			for (const container of containers(deployment)) {
				expectClusterReady(containerEnv(manifests, deployment, container), `${deployment.file}: ${deployment.name}`);
			}
		}
	});

	it("takes NODE_ID from the pod name so every pod joins the cluster under its own ID", () => {
		for (const deployment of deployments) {
			for (const container of containers(deployment)) {
				const nodeId = list(container.env).map((e) => obj(e, "env")).find((e) => e.name === "NODE_ID");
				const fieldRef = isObj(nodeId?.valueFrom) && isObj(nodeId.valueFrom.fieldRef) ? nodeId.valueFrom.fieldRef : {};
				expect(fieldRef.fieldPath, deployment.name).toBe("metadata.name");
			}
		}
	});

	it("probes /healthz and /readyz on the port each role listens on", () => {
		for (const deployment of deployments) {
			for (const container of containers(deployment)) {
				const config = configFor(deployment, container);
				const port = probePort(config);
				expect(port, `${deployment.name} has a health listener`).toBeDefined();
				expect(port, deployment.name).toBe(config.services.includes("gateway") ? 3000 : 3001);
				expect(probe(container, "livenessProbe"), `${deployment.name} liveness`).toEqual({ path: "/healthz", port });
				expect(probe(container, "readinessProbe"), `${deployment.name} readiness`).toEqual({ path: "/readyz", port });
			}
		}
	});

	it("runs as a numeric non-root user, with resources and a grace period", () => {
		for (const deployment of deployments) {
			const pod = podSpec(deployment);
			const podSecurity = isObj(pod.securityContext) ? pod.securityContext : {};
			expect(pod.terminationGracePeriodSeconds, `${deployment.name} grace period`).toBeGreaterThan(0);
			for (const container of containers(deployment)) {
				const security = { ...podSecurity, ...(isObj(container.securityContext) ? container.securityContext : {}) };
				expect(security.runAsNonRoot, `${deployment.name} runAsNonRoot`).toBe(true);
				// The image's USER is a name, which the kubelet cannot check against runAsNonRoot: it needs a number.
				expect(security.runAsUser, `${deployment.name} runAsUser`).toBeGreaterThan(0);
				const resources = obj(container.resources, `${deployment.name} resources`);
				for (const bound of ["requests", "limits"]) {
					const values = obj(resources[bound], `${deployment.name} resources.${bound}`);
					expect(values.cpu, `${deployment.name} ${bound}.cpu`).toBeDefined();
					expect(values.memory, `${deployment.name} ${bound}.memory`).toBeDefined();
				}
			}
		}
	});

	it("exposes the gateway pods, and only them, through a Service", () => {
		const services = manifests.filter((m) => m.kind === "Service");
		const gateways = deployments.filter(isGateway);
		for (const gateway of gateways) {
			const exposing = services.filter(
				(s) => s.namespace === gateway.namespace && selects(obj(obj(s.body.spec, "spec").selector, `${s.name} selector`), podLabels(gateway)),
			);
			expect(exposing.length, `a Service selecting ${gateway.name}`).toBeGreaterThanOrEqual(1);
			for (const service of exposing) {
				const selector = obj(obj(service.body.spec, "spec").selector, "selector");
				for (const other of deployments.filter((d) => !gateways.includes(d))) {
					expect(selects(selector, podLabels(other)), `${service.name} must not select ${other.name}`).toBe(false);
				}
				const container = containers(gateway)[0]!;
				const targets = list(obj(service.body.spec, "spec").ports).map((p) => resolvePort(obj(p, "port").targetPort, container));
				expect(targets, `${service.name} targets the gateway port`).toContain(configFor(gateway, container).http.port);
			}
		}
	});

	it("finding 6: Prometheus scrapes /metrics on each pod's ops port, which no Service exposes", () => {
		const services = manifests.filter((m) => m.kind === "Service");
		for (const deployment of deployments) {
			const template = obj(obj(deployment.body.spec, "spec").template, "template");
			const annotations = isObj(template.metadata) && isObj(template.metadata.annotations) ? template.metadata.annotations : {};
			for (const container of containers(deployment)) {
				const config = configFor(deployment, container);
				expect(config.opsPort, `${deployment.name} has an ops listener`).toBeDefined();
				expect(annotations["prometheus.io/scrape"], deployment.name).toBe("true");
				expect(annotations["prometheus.io/path"], deployment.name).toBe("/metrics");
				expect(Number(annotations["prometheus.io/port"]), deployment.name).toBe(config.opsPort);
				expect(resolvePort("ops", container), `${deployment.name} names its ops port`).toBe(config.opsPort);
				if (config.services.includes("gateway")) expect(config.opsPort, deployment.name).not.toBe(config.http.port);
				for (const service of services.filter((s) => selects(obj(obj(s.body.spec, "spec").selector, `${s.name} selector`), podLabels(deployment)))) {
					const targets = list(obj(service.body.spec, "spec").ports).map((p) => resolvePort(obj(p, "port").targetPort, container));
					expect(targets, `${service.name} exposes ${deployment.name}'s ops port`).not.toContain(config.opsPort);
				}
			}
		}
	});

	it("autoscales the gateway and worker Deployments on CPU", () => {
		const hpas = manifests.filter((m) => m.kind === "HorizontalPodAutoscaler");
		const targets = hpas.map((hpa) => {
			expect(String(hpa.body.apiVersion), hpa.name).toBe("autoscaling/v2");
			const ref = obj(obj(hpa.body.spec, "spec").scaleTargetRef, `${hpa.name} scaleTargetRef`);
			const target = deployments.find((d) => ref.kind === "Deployment" && d.name === ref.name && d.namespace === hpa.namespace);
			if (!target) throw new Error(`${hpa.name} targets ${String(ref.kind)} ${String(ref.name)}, which k8s/ does not define`);
			// Utilization is a percentage of the request: without one the HPA has nothing to compute.
			for (const container of containers(target)) {
				expect(obj(obj(container.resources, "resources").requests, "requests").cpu, `${target.name} cpu request`).toBeDefined();
			}
			// A fixed replica count would be reapplied on every deploy, fighting the autoscaler.
			expect(obj(target.body.spec, "spec").replicas, `${target.name} leaves replicas to its HPA`).toBeUndefined();
			return target;
		});
		const scaled = new Set(targets.map(component));
		expect(scaled.has("gateway"), "gateway HPA").toBe(true);
		expect(scaled.has("worker"), "worker HPA").toBe(true);
	});

	it("gives every service of every domain under services/ a Deployment that runs it", () => {
		const hosted = hostedServices(deployments.flatMap((d) => containers(d).flatMap((c) => configFor(d, c).services)));
		for (const service of everyService()) expect(hosted.has(service), `${service} has no Deployment`).toBe(true);
	});

	it("lists every manifest in kustomization.yaml", () => {
		const kustomization = obj(parse(fs.readFileSync(path.join(K8S_DIR, "kustomization.yaml"), "utf8")), "kustomization.yaml");
		const listed = list(kustomization.resources).map(String).sort();
		expect(listed).toEqual(yamlFiles(K8S_DIR).filter((file) => file !== "kustomization.yaml"));
	});
});

// ---- Dockerfile --------------------------------------------------------------------------------------------

describe("Dockerfile", () => {
	// Joined continuation lines so every instruction is one entry.
	const instructions = readText("Dockerfile")
		.replace(/\\\r?\n/g, " ")
		.split(/\r?\n/)
		.map((line) => line.trim())
		.filter((line) => line !== "" && !line.startsWith("#"));
	const keyword = (line: string): string => line.split(/\s+/)[0]!.toUpperCase();

	it("builds in several stages", () => {
		expect(instructions.filter((line) => keyword(line) === "FROM").length).toBeGreaterThanOrEqual(2);
	});

	it("starts the compiled server as a non-root user", () => {
		const cmdIndex = instructions.findLastIndex((line) => keyword(line) === "CMD");
		expect(cmdIndex).toBeGreaterThan(-1);
		expect(instructions[cmdIndex]).toMatch(/node.*dist\/server\.js/);
		const lastFrom = instructions.findLastIndex((line) => keyword(line) === "FROM");
		const user = instructions
			.slice(lastFrom, cmdIndex)
			.filter((line) => keyword(line) === "USER")
			.at(-1);
		expect(user, "a USER in the final stage before CMD").toBeDefined();
		expect(user!.split(/\s+/)[1]).not.toMatch(/^(root|0)(:|$)/);
	});

	it("keeps local build output and dependencies out of the context", () => {
		const ignored = readText(".dockerignore").split(/\r?\n/).map((line) => line.trim());
		for (const entry of ["node_modules", "dist", ".git"]) expect(ignored).toContain(entry);
	});
});
