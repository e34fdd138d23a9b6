import type { ApplyResult } from "@flotilla/api";
import type { Command } from "commander";
import { saveBundle } from "../bootstrap.js";
import type { CommandModule } from "../context.js";
import { BadRequestError } from "../errors.js";
import { examples } from "../help.js";
import { checkYamlDocuments, readInput } from "../input.js";

/** What `apply -o json|yaml` prints per object: the hub's result, with any bundle swapped for its file. */
type ShownResult = Omit<ApplyResult, "bootstrap"> & { bootstrapFile?: string };

/** `flotilla apply -f <file|->`. */
export const registerApplyCommands: CommandModule = (program, ctx) => {
  program
    .command("apply")
    .description("create or update clusters, teams, repos, apps and environments from YAML documents")
    .requiredOption("-f, --filename <file>", "multi-document YAML file, or '-' for stdin")
    .option("--bootstrap-dir <dir>", "where bundles of clusters this apply registers are saved (mode 0600)", ".")
    .addHelpText(
      "after",
      examples(
        ["the whole fleet from one file", "flotilla apply -f fleet.yaml"],
        ["from a pipeline", "cat team.yaml repo.yaml | flotilla apply -f -"],
      ) +
        `
Each document is one object, in the order they depend on nothing written first:
  apiVersion: flotilla.dev/v1
  kind: Repo                    # Cluster | Team | Repo | App | Environment | Receiver
  metadata: { name: web }
  spec: { team: web, url: https://git.example/web.git, branches: { prod: main } }
The hub checks every document before writing any; an object already as declared is left unchanged.
A Repo or Receiver document that leaves out its credentials, URL or secret keeps the stored ones.
A Cluster this apply registers gets its bootstrap bundle saved as <bootstrap-dir>/<name>-bootstrap.json.
`,
    )
    .action(async (opts: { filename: string; bootstrapDir: string }, cmd: Command) => {
      const text = await readInput(opts.filename, ctx.io.stdin);
      checkYamlDocuments(text, opts.filename);
      const client = ctx.client(cmd);
      let response: { results: ApplyResult[] };
      try {
        response = await client.post("/v1/apply", { text, contentType: "application/yaml" });
      } catch (err) {
        if (err instanceof BadRequestError) {
          const file = opts.filename === "-" ? "stdin" : opts.filename;
          throw new BadRequestError(err.status, err.method, err.path, err.body, `${file}: ${err.message}`);
        }
        throw err;
      }
      const shown: ShownResult[] = response.results.map(({ bootstrap, ...rest }) =>
        bootstrap ? { ...rest, bootstrapFile: saveBundle(bootstrap, opts.bootstrapDir) } : rest,
      );
      ctx.print(cmd, { results: shown }, () =>
        shown
          .map(
            (r) =>
              `${r.kind.toLowerCase()}/${r.name} ${r.action}${r.bootstrapFile ? ` (bootstrap bundle: ${r.bootstrapFile})` : ""}`,
          )
          .join("\n"),
      );
    });
};
