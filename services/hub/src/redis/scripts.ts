/**
 * Every Lua script the hub runs: each changes several keys (see `keys.ts`) at once, or only
 * while the caller still holds the leader lease. Their KEYS and ARGV are listed above each.
 */

/** KEYS: object, name index. ARGV: record JSON, name. 1 when created, 0 when the object exists. */
/**
 * KEYS: object. ARGV: the text it must still hold, the new text. 1 when replaced; 0 when the
 * object is gone or changed since it was read.
 */
export const REPLACE_OBJECT = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0`;

export const CREATE_OBJECT = `if redis.call('SET', KEYS[1], ARGV[1], 'NX') then redis.call('SADD', KEYS[2], ARGV[2]) redis.call('INCR', KEYS[3]) return 1 end return 0`;

/**
 * KEYS: leader, generation counter. ARGV: lease value, floor. The next generation, at least
 * `floor`; -1 when the lease is no longer held.
 */
export const ALLOCATE_GENERATION = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local g = redis.call('INCR', KEYS[2])
local floor = tonumber(ARGV[2])
if g < floor then redis.call('SET', KEYS[2], floor) g = floor end
return g`;

/**
 * KEYS: leader, then one generation counter per pair. ARGV: lease value, then one floor per
 * counter. The next generation of each, as ALLOCATE_GENERATION gives it; -1 (and nothing
 * allocated) when the lease is no longer held.
 */
export const ALLOCATE_GENERATIONS = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local out = {}
for i = 2, #KEYS do
  local g = redis.call('INCR', KEYS[i])
  local floor = tonumber(ARGV[i])
  if g < floor then redis.call('SET', KEYS[i], floor) g = floor end
  out[i - 1] = g
end
return out`;

/** KEYS: leader, fence counter. ARGV: holder, TTL in ms. The new fencing token, or 0 when the lease is held. */
export const ACQUIRE_LEASE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local t = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. t, 'PX', ARGV[2])
return t`;

/** KEYS: leader. ARGV: lease value, TTL in ms. 1 when extended, 0 when no longer held. */
export const RENEW_LEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end return 0`;

/** KEYS: leader. ARGV: lease value. Deletes the lease only while it is still this one. */
export const RELEASE_LEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end return 0`;

/**
 * KEYS: rollout header, rollout clusters, all rollouts, rollouts of (app, env), active set, leader.
 * ARGV: header JSON, id, detection time, lease value, then field, value pairs of the clusters hash.
 * 1 when created, 0 when the id is taken, -1 when the lease is no longer held.
 */
export const CREATE_ROLLOUT = `
if redis.call('GET', KEYS[6]) ~= ARGV[4] then return -1 end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('DEL', KEYS[2])
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
redis.call('SADD', KEYS[5], ARGV[2])
return 1`;

/**
 * Compare-and-set of a stored rollout: the header's text is the token, and only the cluster
 * entries that changed are written (see `rollout-parts.ts`).
 * KEYS: rollout header, rollout clusters, active set, leader, last-good pointer, rollouts of (app, env).
 * ARGV: expected header, next header, id, '1' when settled, lease value or '' (unfenced),
 * '1' when Succeeded, then field, value pairs of the changed cluster entries.
 * When the new state is Succeeded the pointer moves to this rollout unless it already names a
 * newer one (by detection score), so it only ever moves forward.
 * 1 when saved, 0 when the stored header changed, -1 when the lease is no longer held.
 */
export const SAVE_ROLLOUT = `
if ARGV[5] ~= '' and redis.call('GET', KEYS[4]) ~= ARGV[5] then return -1 end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
if ARGV[4] == '1' then redis.call('SREM', KEYS[3], ARGV[3]) else redis.call('SADD', KEYS[3], ARGV[3]) end
if ARGV[6] == '1' then
  local current = redis.call('GET', KEYS[5])
  local mine = redis.call('ZSCORE', KEYS[6], ARGV[3])
  local theirs = current and redis.call('ZSCORE', KEYS[6], current)
  if not theirs or (mine and tonumber(theirs) <= tonumber(mine)) then redis.call('SET', KEYS[5], ARGV[3]) end
end
return 1`;

/**
 * KEYS: hub key set hash. ARGV: expected version (`""`: none stored yet), new version, sealed
 * state. 1 when stored, 0 when the stored version is not the expected one (another replica
 * took a step first).
 */
export const PUT_HUB_KEY_SET = `
local v = redis.call('HGET', KEYS[1], 'version')
if (v or '') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'sealed', ARGV[3])
return 1`;
