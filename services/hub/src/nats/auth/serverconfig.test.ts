import { NATS_MAX_CONTROL_LINE } from "@flotilla/proto";
import { describe, expect, it } from "vitest";
import { natsServerConfig } from "./serverconfig.js";
import { createOperatorSetup } from "./setup.js";

const setup = await createOperatorSetup();

describe("natsServerConfig", () => {
  it("trusts the operator and resolves accounts from a full resolver with both accounts preloaded", () => {
    const conf = natsServerConfig(setup, { resolverDir: "/var/lib/nats/jwt" });
    expect(conf).toContain(`operator: "${setup.operator.jwt}"`);
    expect(conf).toContain(`system_account: ${setup.systemAccount.publicKey}`);
    expect(conf).toMatch(/resolver \{\n {2}type: full\n {2}dir: "\/var\/lib\/nats\/jwt"\n/);
    expect(conf).toContain(`  ${setup.systemAccount.publicKey}: "${setup.systemAccount.jwt}"`);
    expect(conf).toContain(`  ${setup.account.publicKey}: "${setup.account.jwt}"`);
    // Room in CONNECT for a JWT listing a status key per assigned app.
    expect(conf).toContain(`max_control_line: ${NATS_MAX_CONTROL_LINE}`);
  });

  it("leaves the listener and JetStream to the surrounding config unless asked", () => {
    const conf = natsServerConfig(setup, { resolverDir: "/r" });
    expect(conf).not.toMatch(/^listen/m);
    expect(conf).not.toMatch(/^jetstream/m);
  });

  it("writes a loopback listener and a JetStream store that fsyncs every write", () => {
    const conf = natsServerConfig(setup, { resolverDir: "/r", port: 4333, storeDir: "/data/js", serverName: "n1" });
    expect(conf).toContain('listen: "127.0.0.1:4333"');
    expect(conf).toContain('server_name: "n1"');
    expect(conf).toMatch(/jetstream \{\n {2}store_dir: "\/data\/js"\n(.*\n)? {2}sync_interval: always\n\}/);
  });

  it("can leave sync_interval to the server default", () => {
    const conf = natsServerConfig(setup, { resolverDir: "/r", storeDir: "/js", syncAlways: false });
    expect(conf).not.toContain("sync_interval");
  });
});
