/**
 * Benchmark: what one cluster's credentials renewal costs the hub in signing, and how large the
 * JWT grows with the apps assigned to the cluster (it lists one status key per app). Prints
 * figures; asserts nothing about time.
 *
 * Run: npx turbo run build --filter=@flotilla/hub && cd test && npm run bench:creds
 */
import { clusterUserJwt, createOperatorSetup, mintClusterUser } from "@flotilla/hub";

const RENEWALS = 2_000;
const setup = await createOperatorSetup();
const cluster = "edge-0001";
const user = await mintClusterUser(setup, cluster, { apps: [] });
const apps = Array.from({ length: 20 }, (_, i) => `app-${i}`);
const renew = () => clusterUserJwt(setup, cluster, user.userPublicKey, { apps, ttlSeconds: 86_400 });

for (let i = 0; i < 50; i++) await renew();
const started = performance.now();
for (let i = 0; i < RENEWALS; i++) await renew();
const ms = performance.now() - started;
console.log(
  `renewal JWT, ${apps.length} apps: ${(ms / RENEWALS).toFixed(3)} ms each, ${Math.round((RENEWALS * 1000) / ms)}/s on one core`,
);
for (const n of [0, 20, 100, 200]) {
  const names = Array.from({ length: n }, (_, i) => `app-${i}-`.padEnd(63, "x"));
  const jwt = await clusterUserJwt(setup, "c".repeat(63), user.userPublicKey, { apps: names });
  console.log(`JWT with ${n} apps of the longest names: ${jwt.length} bytes`);
}
