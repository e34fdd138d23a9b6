/**
 * Every Lua script the hub runs: each changes several keys (see `keys.ts`) at once, or only
 * while the caller still holds the leader lease. Their KEYS and ARGV are listed above each.
 */

/** KEYS: object, name index. ARGV: record JSON, name. 1 when created, 0 when the object exists. */
export const CREATE_OBJECT = `if redis.call('SET', KEYS[1], ARGV[1], 'NX') then redis.call('SADD', KEYS[2], ARGV[2]) return 1 end return 0`;

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
 * KEYS: rollout, all rollouts, rollouts of (app, env), active set, leader.
 * ARGV: rollout JSON, id, detection time, lease value.
 * 1 when created, 0 when the id is taken, -1 when the lease is no longer held.
 */
export const CREATE_ROLLOUT = `
if redis.call('GET', KEYS[5]) ~= ARGV[4] then return -1 end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[2])
return 1`;

/**
 * Compare-and-set of a stored rollout.
 * KEYS: rollout, active set, leader, last-good pointer, rollouts of (app, env).
 * ARGV: expected JSON, next JSON, id, '1' when settled, lease value or '' (unfenced), '1' when Succeeded.
 * When the new state is Succeeded the pointer moves to this rollout unless it already names a
 * newer one (by detection score), so it only ever moves forward.
 * 1 when saved, 0 when the stored text changed, -1 when the lease is no longer held.
 */
export const SAVE_ROLLOUT = `
if ARGV[5] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[5] then return -1 end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[4] == '1' then redis.call('SREM', KEYS[2], ARGV[3]) else redis.call('SADD', KEYS[2], ARGV[3]) end
if ARGV[6] == '1' then
  local current = redis.call('GET', KEYS[4])
  local mine = redis.call('ZSCORE', KEYS[5], ARGV[3])
  local theirs = current and redis.call('ZSCORE', KEYS[5], current)
  if not theirs or (mine and tonumber(theirs) <= tonumber(mine)) then redis.call('SET', KEYS[4], ARGV[3]) end
end
return 1`;
