// Starts the real service (the `api` binary of this repository) on a fresh Postgres database with
// AUTH_MODE=clerk and an RSA key made here, and kv-emulator; signs Clerk-like session tokens.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const targetDir = process.env.CARGO_TARGET_DIR ?? resolve(packageRoot, "../../target");
const binary = (name: string, variable: string) => process.env[variable] ?? join(targetDir, "debug", name);

/** A loopback port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  await new Promise((done) => server.close(done));
  if (typeof address !== "object" || !address) throw new Error("no port");
  return address.port;
}

/** Spawns a binary with only the given environment; its output is kept for failure messages. */
function start(path: string, args: string[], env: Record<string, string>) {
  const child = spawn(path, args, {
    cwd: mkdtempSync(join(tmpdir(), "formula-ts-")), // no ./.env is read
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  child.stdout?.on("data", (chunk) => output.push(String(chunk)));
  child.stderr?.on("data", (chunk) => output.push(String(chunk)));
  return { child, output };
}

async function waitFor(url: string, child: ChildProcess, output: string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}:\n${output.join("")}`);
    try {
      const answer = await fetch(url);
      if (answer.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error(`${url} did not answer in 30 s:\n${output.join("")}`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((done) => child.once("exit", done));
  child.kill("SIGTERM");
  await exited;
}

const adminUrl = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

function psql(sql: string) {
  execFileSync("psql", [adminUrl, "-v", "ON_ERROR_STOP=1", "-qc", sql], { stdio: "pipe" });
}

export interface Service {
  base: string;
  /** A session token for `sub`, signed with the key the service trusts (or another key). */
  token(sub: string, options?: { expiresIn?: number; key?: KeyObject }): string;
  close(): Promise<void>;
}

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString("base64url");
}

/** An RS256 JWT as Clerk signs session tokens. */
export function signToken(privateKey: KeyObject, claims: Record<string, unknown>): string {
  const header = base64url(JSON.stringify({ alg: "RS256", typ: "JWT", kid: "test" }));
  const payload = base64url(JSON.stringify(claims));
  const signature = sign("sha256", Buffer.from(`${header}.${payload}`), privateKey);
  return `${header}.${payload}.${base64url(signature)}`;
}

/** The service on a fresh database (dropped by `close`), in AUTH_MODE=clerk. */
export async function startService(): Promise<Service> {
  const database = `formula_ts_${randomBytes(6).toString("hex")}`;
  psql(`CREATE DATABASE ${database}`);
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const port = await freePort();
  const { child, output } = start(binary("api", "API_BIN"), ["serve"], {
    DATABASE_URL: url.toString(),
    AUTH_MODE: "clerk",
    CLERK_JWT_KEY: publicKey.export({ type: "spki", format: "pem" }).toString(),
    BIND_ADDR: `127.0.0.1:${port}`,
    CACHE_BACKEND: "memory",
    RUST_LOG: "warn",
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor(`${base}/ready`, child, output);
  } catch (error) {
    await stop(child);
    psql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    throw error;
  }
  return {
    base,
    token(sub, { expiresIn = 60, key = privateKey } = {}) {
      const now = Math.floor(Date.now() / 1000);
      return signToken(key, { sub, iat: now, nbf: now, exp: now + expiresIn });
    },
    async close() {
      await stop(child);
      psql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    },
  };
}

export interface Emulator {
  apiBase: string;
  token: string;
  close(): Promise<void>;
}

/** kv-emulator on a free port, with the given namespaces (none: every id exists). */
export async function startEmulator(namespaces: string[] = []): Promise<Emulator> {
  const port = await freePort();
  const token = randomBytes(12).toString("hex");
  const args = ["--listen", `127.0.0.1:${port}`, "--token", token];
  for (const namespace of namespaces) args.push("--namespace", namespace);
  const { child, output } = start(binary("kv-emulator", "KV_EMULATOR_BIN"), args, {});
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`${base}/__emulator/stats`, child, output);
  return { apiBase: `${base}/client/v4`, token, close: () => stop(child) };
}
