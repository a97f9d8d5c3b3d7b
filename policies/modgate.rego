# modgate's decision policy. The host (src/policy) evaluates the entrypoint
# modgate/decision for every module request. It precomputes what Rego cannot do
# with Go's semantics: prefix-pattern matches of module paths, Go semver ranges,
# and waivers matching this module and version (see policies/input.schema.json).
# Lists and thresholds live in policies/data.yaml; the host loads it as
# data.settings (setData), so it can change without rebuilding the policy.
package modgate

import rego.v1

default cfg := {}

cfg := data.settings

# Kinds where version rules apply. list is evaluated per version by the host to
# filter @v/list; .mod and .info of a banned version stay allowed, because the
# go command's version selection reads go.mod files of versions it will not pick.
version_kinds := {"zip", "list"}

version_kind if input.request.kind in version_kinds

decision := {
	"allow": count(deny) == 0,
	"deny": [r | some r in deny],
	"warn": [r | some r in warn],
}

# --- sources (all kinds) -----------------------------------------------------

deny contains reason("SOURCE_DENIED", sprintf("%s matches the denied source pattern %s", [module_path, input.match.deniedBy])) if {
	input.match.deniedBy != ""
}

deny contains reason("SOURCE_NOT_ALLOWED", sprintf("%s matches no allowed source pattern", [module_path])) if {
	input.match.allowed == false
}

deny contains reason("GROUP_NOT_ALLOWED", sprintf("%s is not allowed for the groups of %s", [module_path, identity_id])) if {
	input.match.groupAllowed == false
}

# Messages read optional fields through defaults: a missing field must never
# make a denial's message, and so the denial, undefined.
identity_id := object.get(input.request, ["identity", "id"], "anonymous")

module_path := object.get(input.module, "path", "")

module_version := sprintf("%s@%s", [module_path, object.get(input.module, "version", "")])

# --- versions (zip, and list entries) -----------------------------------------

version_denials contains reason("VERSION_BANNED", sprintf("%s is banned (%s): %s", [module_version, object.get(b, "versions", "*"), object.get(b, "reason", "banned")])) if {
	some b in input.match.banned
}

version_denials contains reason("MIN_RELEASE_AGE", sprintf("%s was published %s, less than %v hours ago (cool-down)", [module_version, object.get(input.facts, "publishTime", "recently"), hours])) if {
	hours := cooldown_hours
	input.facts.publishEpoch + (hours * 3600) > input.request.epoch
}

# Fail closed: a cool-down cannot be checked without the publish time (the
# .info could not be fetched, or had no valid Time), so the version is refused
# rather than let through as if it were old enough.
version_denials contains reason("PUBLISH_TIME_UNKNOWN", sprintf("modgate could not learn when %s was published, and the cool-down of %v hours needs it", [module_version, hours])) if {
	hours := cooldown_hours
	input.module.version != ""
	not publish_time_known
}

# A helper rule, because "not is_number(x)" is undefined, not true, when x is missing.
publish_time_known if is_number(input.facts.publishEpoch)

# The cool-down in force for this module (undefined when off or exempt).
cooldown_hours := hours if {
	hours := object.get(cfg, "minReleaseAgeHours", 0)
	hours > 0
	not input.match.cooldownExempt
}

version_denials contains reason("VERSION_RETRACTED", sprintf("%s is retracted by its author", [module_version])) if {
	object.get(cfg, "denyRetracted", false) == true
	input.facts.retracted == true
}

# Fail closed, as for the publish time: under denyRetracted a version whose
# retraction cannot be learnt (the list or the latest go.mod could not be
# fetched or verified) is refused rather than taken as not retracted. A module
# with no tagged versions has nothing that could retract it: the host then
# says retracted: false.
version_denials contains reason("RETRACTION_UNKNOWN", sprintf("modgate could not learn whether %s is retracted (its module's latest go.mod could not be had), and denyRetracted needs it", [module_version])) if {
	object.get(cfg, "denyRetracted", false) == true
	input.module.version != ""
	not retraction_known
}

retraction_known if is_boolean(input.facts.retracted)

version_denials contains reason("PSEUDO_VERSION_DENIED", sprintf("%s is a pseudo-version; pin a tagged release", [module_version])) if {
	object.get(cfg, "pseudoVersions", "allow") == "deny"
	input.module.pseudo == true
}

version_denials contains reason("INCOMPATIBLE_DENIED", sprintf("%s is a +incompatible version", [module_version])) if {
	object.get(cfg, "incompatible", "allow") == "deny"
	input.module.incompatible == true
}

deny contains r if {
	version_kind
	some r in version_denials
	not waived
}

warn contains reason("WAIVED", sprintf("%s (waived until %s: %s)", [r.message, object.get(w, "expires", "?"), object.get(w, "reason", "")])) if {
	version_kind
	some r in version_denials
	some w in active_waivers
}

active_waivers contains w if {
	some w in input.match.waivers
	w.expiresEpoch > input.request.epoch
}

waived if count(active_waivers) > 0

# --- zip facts -----------------------------------------------------------------

deny contains reason("ZIP_TOO_LARGE_POLICY", sprintf("%s zip is %v bytes, over the %v-byte limit", [module_version, input.facts.zipSize, max])) if {
	input.request.kind == "zip"
	max := object.get(cfg, "maxZipBytes", 0)
	max > 0
	input.facts.zipSize > max
}

deny contains reason("CHECKSUM_UNVERIFIED", sprintf("%s was not verified (method %s)", [module_version, object.get(input.facts.checksum, "method", "none")])) if {
	input.request.kind == "zip"
	input.facts.checksum.verified == false
}

# --- warnings --------------------------------------------------------------------

warn contains reason("PSEUDO_VERSION", sprintf("%s is a pseudo-version", [module_version])) if {
	version_kind
	object.get(cfg, "pseudoVersions", "allow") == "warn"
	input.module.pseudo == true
}

warn contains reason("INCOMPATIBLE", sprintf("%s is a +incompatible version", [module_version])) if {
	version_kind
	object.get(cfg, "incompatible", "allow") == "warn"
	input.module.incompatible == true
}

warn contains reason("DEPRECATED", sprintf("%s is deprecated: %s", [module_path, input.facts.deprecated])) if {
	input.request.kind == "zip"
	input.facts.deprecated != ""
}

reason(code, message) := {"code": code, "message": message}
