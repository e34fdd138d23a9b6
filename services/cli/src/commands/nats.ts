import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { reserveSecretFile } from "../bootstrap.js";
import type { CommandModule } from "../context.js";
import { InputFileError, UsageError } from "../errors.js";
import { examples } from "../help.js";
import { formatDetail } from "../output.js";

/** The NATS address a server listens on unless told otherwise: every interface, the client port. */
export const DEFAULT_NATS_LISTEN = "0.0.0.0:4222";
/** Where NATS serves its monitoring endpoints (`/healthz`, `/varz`) unless told otherwise: loopback only. */
export const DEFAULT_NATS_MONITOR = "127.0.0.1:8222";
/** File names inside `--dir`. */
export const OPERATOR_SETUP_FILE = "operator-setup.json";
export const SERVER_CONFIG_FILE = "nats-server.conf";

interface InitOptions {
  dir: string;
  listen: string;
  serverName: string;
  storeDir?: string;
  resolverDir?: string;
  monitor: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
}

/** What `nats init` wrote, as `-o json|yaml` prints it (public keys only). */
export interface NatsInitResult {
  operatorSetupFile: string;
  serverConfigFile: string;
  /** True when an operator setup already in `--dir` was kept. */
  keptExistingSetup: boolean;
  operator: string;
  account: string;
}

/** `host:port` → its parts; throws a UsageError naming the flag. */
export function parseListen(
  text: string,
  flag = "--listen",
  example = DEFAULT_NATS_LISTEN,
): { host: string; port: number } {
  const match = /^(.+):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (!match?.[1] || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError(`${flag} ${JSON.stringify(text)} is not host:port`, `e.g. ${flag} ${example}`);
  }
  return { host: match[1].replace(/^\[(.*)\]$/, "$1"), port };
}

/**
 * The server's TLS files from `--tls-cert`, `--tls-key` and `--tls-client-ca`, as absolute paths
 * (nats-server resolves relative ones against its own working directory); undefined without TLS.
 * Throws a UsageError for a certificate without its key, an InputFileError for a missing file.
 */
export function tlsFiles(
  opts: Pick<InitOptions, "tlsCert" | "tlsKey" | "tlsClientCa">,
): { certFile: string; keyFile: string; caFile?: string; verify: boolean } | undefined {
  if (!opts.tlsCert && !opts.tlsKey && !opts.tlsClientCa) return undefined;
  if (!opts.tlsCert || !opts.tlsKey) {
    throw new UsageError(
      "--tls-cert and --tls-key go together (the server's certificate and its key)",
      "e.g. --tls-cert nats.crt --tls-key nats.key",
    );
  }
  const files = {
    certFile: opts.tlsCert,
    keyFile: opts.tlsKey,
    ...(opts.tlsClientCa ? { caFile: opts.tlsClientCa } : {}),
  };
  for (const file of Object.values(files)) {
    if (!existsSync(file)) throw new InputFileError(file, "does not exist");
  }
  return {
    certFile: resolve(files.certFile),
    keyFile: resolve(files.keyFile),
    ...(files.caFile ? { caFile: resolve(files.caFile) } : {}),
    verify: Boolean(files.caFile),
  };
}

/** `flotilla nats init`: the NATS operator-mode set-up the hub needs, generated, not hand-written. */
export const registerNatsCommands: CommandModule = (program, ctx) => {
  const nats = program.command("nats").description("set up the NATS server the hub and agents use");

  nats
    .command("init")
    .description("write the NATS operator setup (the hub's, mode 0600) and a nats-server.conf that trusts it")
    .requiredOption("--dir <dir>", "where both files go (created if missing)")
    .option("--listen <host:port>", "the address NATS serves clients on", DEFAULT_NATS_LISTEN)
    .option("--server-name <name>", "the server's name; JetStream needs it stable across restarts", "flotilla-nats")
    .option("--store-dir <dir>", "JetStream's file store (default: <dir>/jetstream)")
    .option("--resolver-dir <dir>", "where the account JWTs the hub pushes are kept (default: <dir>/resolver)")
    .option("--tls-cert <file>", "PEM of the server's certificate: TLS on the client port, required of every client")
    .option("--tls-key <file>", "PEM of its private key (with --tls-cert)")
    .option("--tls-client-ca <file>", "PEM of a CA whose client certificates the server then demands (mutual TLS)")
    .option(
      "--monitor <host:port>",
      "where NATS serves /healthz and its other monitoring endpoints; 'off' for none",
      DEFAULT_NATS_MONITOR,
    )
    .addHelpText(
      "after",
      `${examples(
        [
          "set up NATS on this machine, TLS with your certificate",
          "flotilla nats init --dir /etc/flotilla/nats --tls-cert nats.crt --tls-key nats.key && nats-server -c /etc/flotilla/nats/nats-server.conf",
        ],
        [
          "the hub then trusts the same operator",
          "FLOTILLA_HUB_OPERATOR_SETUP_FILE=/etc/flotilla/nats/operator-setup.json flotilla hub",
        ],
      )}
The operator setup holds the operator's and accounts' private keys: every agent's NATS credentials
are minted from it. Keep it secret and back it up; a new one invalidates every credential. Run
again with the same --dir to rewrite nats-server.conf (other --listen, --store-dir): the existing
operator setup is kept, never replaced. Without --tls-cert NATS serves plaintext, which hubs and
agents refuse unless told FLOTILLA_NATS_INSECURE=true.
`,
    )
    .action(async (opts: InitOptions, cmd: Command) => {
      const { host, port } = parseListen(opts.listen);
      const tls = tlsFiles(opts);
      const monitor = opts.monitor === "off" ? undefined : parseListen(opts.monitor, "--monitor", DEFAULT_NATS_MONITOR);
      const dir = resolve(opts.dir);
      const hub = await import("@flotilla/hub");
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const setupPath = join(dir, OPERATOR_SETUP_FILE);
      const kept = existsSync(setupPath);
      let setup: Awaited<ReturnType<typeof hub.createOperatorSetup>>;
      if (kept) {
        try {
          setup = await hub.parseOperatorSetup(readFileSync(setupPath, "utf8"));
        } catch (err) {
          throw new InputFileError(setupPath, `${(err as Error).message}; move it away to create a new one`, {
            cause: err,
          });
        }
      } else {
        setup = await hub.createOperatorSetup();
        reserveSecretFile(setupPath, ctx.io.stdout).write(hub.serializeOperatorSetup(setup));
      }
      const configPath = join(dir, SERVER_CONFIG_FILE);
      const config = hub.natsServerConfig(setup, {
        serverName: opts.serverName,
        host,
        port,
        storeDir: resolve(opts.storeDir ?? join(dir, "jetstream")),
        resolverDir: resolve(opts.resolverDir ?? join(dir, "resolver")),
      });
      // Monitoring (for health checks and probes) is not the hub's business: written here.
      const http = monitor ? `http: ${JSON.stringify(`${monitor.host}:${monitor.port}`)}\n` : "";
      const tlsBlock = tls ? hub.natsTlsConfig(tls) : "";
      writeFileSync(
        configPath,
        `# Written by 'flotilla nats init'; run it again to change it.\n${http}${config}${tlsBlock}`,
        {
          mode: 0o644,
        },
      );
      const result: NatsInitResult = {
        operatorSetupFile: setupPath,
        serverConfigFile: configPath,
        keptExistingSetup: kept,
        operator: setup.operator.publicKey,
        account: setup.account.publicKey,
      };
      ctx.print(cmd, result, () =>
        [
          formatDetail([
            ["Operator setup", `${setupPath} (${kept ? "kept as it was" : "new, mode 0600"})`],
            ["Server config", configPath],
            ["Listens on", opts.listen],
            ["Monitoring", monitor ? `http://${opts.monitor}/healthz` : "off"],
            [
              "TLS",
              tls
                ? `required, certificate ${tls.certFile}${tls.verify ? ", client certificates required" : ""}`
                : "off: hubs and agents refuse it unless FLOTILLA_NATS_INSECURE=true",
            ],
            ["Operator", setup.operator.publicKey],
            ["Account", `${setup.account.name} ${setup.account.publicKey}`],
          ]),
          "",
          `Start NATS:  nats-server -c ${configPath}`,
          `Give the hub FLOTILLA_HUB_OPERATOR_SETUP_FILE=${setupPath}; keep that file secret and backed up.`,
        ].join("\n"),
      );
    });
};
