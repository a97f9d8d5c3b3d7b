# Rules on known vulnerabilities, licenses and deprecations. The host adds the
# vulnerability-database entries that affect the requested version as
# input.vulns (each with its waiver by id, if any) and the database's state as
# input.vulndb; settings come from data.settings.vulnerabilities.
package modgate

import rego.v1

vuln_cfg := object.get(cfg, "vulnerabilities", {})

vuln_mode := object.get(vuln_cfg, "mode", "deny")

# Affected versions are hidden from @v/list and @latest unless hideAffected is false.
vuln_kinds := {"zip", "list"} if object.get(vuln_cfg, "hideAffected", true) == true

else := {"zip"}

vuln_kind if input.request.kind in vuln_kinds

# Entries that count: not withdrawn.
live_vulns contains v if {
	some v in input.vulns
	v.withdrawn == false
}

vuln_waived(v) if v.waiver.expiresEpoch > input.request.epoch

fix_text(v) := sprintf("fixed in %s", [v.fixed]) if v.fixed != ""

else := "no fixed version"

vuln_ids(v) := concat(", ", array.concat([v.id], v.aliases))

vuln_denials contains reason("VULNERABLE", sprintf("%s is affected by %s (%s): %s", [module_version, vuln_ids(v), fix_text(v), v.summary])) if {
	vuln_mode == "deny"
	some v in live_vulns
	not vuln_waived(v)
}

# min_fixed: even when vulnerabilities only warn, a version below an entry's
# fixed version is refused: the fix exists, so use it.
vuln_denials contains reason("BELOW_MIN_FIXED", sprintf("%s is below %s, the first version fixing %s", [module_version, v.fixed, vuln_ids(v)])) if {
	vuln_mode != "deny"
	object.get(vuln_cfg, "minFixed", false) == true
	some v in live_vulns
	v.fixed != ""
	not vuln_waived(v)
}

deny contains r if {
	vuln_kind
	some r in vuln_denials
}

warn contains reason("VULNERABLE", sprintf("%s is affected by %s (%s): %s", [module_version, vuln_ids(v), fix_text(v), v.summary])) if {
	input.request.kind == "zip"
	vuln_mode == "warn"
	some v in live_vulns
	not vuln_waived(v)
}

warn contains reason("VULN_WAIVED", sprintf("%s is affected by %s (%s), waived until %s: %s", [module_version, vuln_ids(v), fix_text(v), v.waiver.expires, v.waiver.reason])) if {
	input.request.kind == "zip"
	vuln_mode != "off"
	some v in live_vulns
	vuln_waived(v)
}

# Versions matched only by withdrawn entries are allowed; the warning says so.
warn contains reason("VULN_WITHDRAWN", sprintf("%s was listed in %s, since withdrawn", [module_version, v.id])) if {
	input.request.kind == "zip"
	some v in input.vulns
	v.withdrawn == true
}

# Fail closed: vulnerability rules are configured but no verified copy is held.
deny contains reason("VULNDB_NOT_LOADED", sprintf("%s: the vulnerability database is not loaded yet, so %s cannot be checked", [module_version, module_path])) if {
	input.request.kind == "zip"
	vuln_mode != "off"
	input.vulndb.enabled == true
	input.vulndb.loaded == false
}

# --- licenses (kind zip) ---------------------------------------------------------

license_cfg := object.get(cfg, "licenses", {})

license_text := input.licenses.expression if input.licenses.expression != ""

else := "unknown"

deny contains reason("LICENSE_DENIED", sprintf("%s is licensed %s; %s is denied", [module_version, license_text, concat(", ", input.licenses.denied)])) if {
	input.request.kind == "zip"
	count(input.licenses.denied) > 0
}

deny contains reason("LICENSE_NOT_ALLOWED", sprintf("%s is licensed %s, which the allowed licenses (%s) do not cover", [module_version, license_text, concat(", ", object.get(license_cfg, "allow", []))])) if {
	input.request.kind == "zip"
	input.licenses.scanned == true
	input.licenses.unknown == false
	input.licenses.allowed == false
}

unknown_license_text := sprintf("%s has no license file at its root", [module_version]) if count(input.licenses.files) == 0

else := sprintf("%s has a license no SPDX text matches (%s)", [module_version, concat(", ", [f.path | some f in input.licenses.files; f.spdx == ""])])

deny contains reason("LICENSE_UNKNOWN", unknown_license_text) if {
	input.request.kind == "zip"
	input.licenses.unknown == true
	object.get(license_cfg, "unknown", "allow") == "deny"
}

warn contains reason("LICENSE_UNKNOWN", unknown_license_text) if {
	input.request.kind == "zip"
	input.licenses.unknown == true
	object.get(license_cfg, "unknown", "allow") == "warn"
}
