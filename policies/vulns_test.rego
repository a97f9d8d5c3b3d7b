package modgate_test

import rego.v1

import data.modgate

vuln_entry := {"id": "GO-2024-0001", "aliases": ["CVE-2024-1111"], "summary": "Bad thing in example.com/m", "fixed": "v1.2.5", "withdrawn": false}

with_vulns(kind, vulns) := object.union(base_input(kind), {"vulns": vulns, "vulndb": {"enabled": true, "loaded": true, "modified": "2026-11-05T23:49:57Z"}, "deprecated": ""})

deny_messages(d) := {r.message | some r in d.deny}

test_affected_zip_denied_naming_id_and_fix if {
	d := modgate.decision with input as with_vulns("zip", [vuln_entry])
	not d.allow
	"VULNERABLE" in codes(d)
	some m in deny_messages(d)
	contains(m, "GO-2024-0001")
	contains(m, "CVE-2024-1111")
	contains(m, "fixed in v1.2.5")
}

test_affected_without_fix_says_so if {
	v := object.union(vuln_entry, {"fixed": ""})
	d := modgate.decision with input as with_vulns("zip", [v])
	some m in deny_messages(d)
	contains(m, "no fixed version")
}

test_affected_hidden_from_lists_by_default if {
	"VULNERABLE" in codes(modgate.decision) with input as with_vulns("list", [vuln_entry])
}

test_affected_shown_in_lists_when_not_hiding if {
	d := modgate.decision with input as with_vulns("list", [vuln_entry])
		with data.settings as {"vulnerabilities": {"hideAffected": false}}
	d.allow
}

test_affected_mod_allowed if {
	d := modgate.decision with input as with_vulns("mod", [vuln_entry])
	d.allow
}

test_only_withdrawn_allowed_with_warning if {
	v := object.union(vuln_entry, {"withdrawn": true})
	d := modgate.decision with input as with_vulns("zip", [v])
	d.allow
	"VULN_WITHDRAWN" in warn_codes(d)
}

test_waiver_active_allows_with_warning if {
	v := object.union(vuln_entry, {"waiver": {"reason": "not reachable", "expires": "2027-01-01T00:00:00Z", "expiresEpoch": 1798761600}})
	d := modgate.decision with input as with_vulns("zip", [v])
	d.allow
	"VULN_WAIVED" in warn_codes(d)
}

test_waiver_expired_denies if {
	v := object.union(vuln_entry, {"waiver": {"reason": "old", "expires": "2025-01-01T00:00:00Z", "expiresEpoch": 1735689600}})
	d := modgate.decision with input as with_vulns("zip", [v])
	not d.allow
	"VULNERABLE" in codes(d)
}

test_warn_mode_warns if {
	d := modgate.decision with input as with_vulns("zip", [vuln_entry])
		with data.settings as {"vulnerabilities": {"mode": "warn"}}
	d.allow
	"VULNERABLE" in warn_codes(d)
}

test_min_fixed_denies_in_warn_mode if {
	d := modgate.decision with input as with_vulns("zip", [vuln_entry])
		with data.settings as {"vulnerabilities": {"mode": "warn", "minFixed": true}}
	not d.allow
	"BELOW_MIN_FIXED" in codes(d)
	some m in deny_messages(d)
	contains(m, "v1.2.5")
}

test_min_fixed_ignores_unfixed if {
	v := object.union(vuln_entry, {"fixed": ""})
	d := modgate.decision with input as with_vulns("zip", [v])
		with data.settings as {"vulnerabilities": {"mode": "warn", "minFixed": true}}
	d.allow
}

test_off_mode_allows if {
	d := modgate.decision with input as with_vulns("zip", [vuln_entry])
		with data.settings as {"vulnerabilities": {"mode": "off"}}
	d.allow
	count(d.warn) == 0
}

test_not_loaded_fails_closed if {
	inp := object.union(with_vulns("zip", []), {"vulndb": {"enabled": true, "loaded": false, "modified": ""}})
	d := modgate.decision with input as inp
	not d.allow
	"VULNDB_NOT_LOADED" in codes(d)
}

test_not_enabled_allows if {
	inp := object.union(with_vulns("zip", []), {"vulndb": {"enabled": false, "loaded": false, "modified": ""}})
	d := modgate.decision with input as inp
	d.allow
}

lic(facts) := object.union(with_vulns("zip", []), {"licenses": object.union({"scanned": true, "expression": "MIT", "unknown": false, "ids": ["MIT"], "files": [{"path": "LICENSE", "spdx": "MIT"}], "allowed": true, "denied": []}, facts)})

test_license_allowed if {
	d := modgate.decision with input as lic({})
	d.allow
}

test_license_denied if {
	d := modgate.decision with input as lic({"denied": ["MIT"]})
	"LICENSE_DENIED" in codes(d)
}

test_license_not_allowed if {
	d := modgate.decision with input as lic({"allowed": false})
		with data.settings as {"licenses": {"allow": ["Apache-2.0"]}}
	"LICENSE_NOT_ALLOWED" in codes(d)
	some m in deny_messages(d)
	contains(m, "Apache-2.0")
}

test_license_unknown_allowed_by_default if {
	d := modgate.decision with input as lic({"unknown": true, "expression": "", "ids": [], "files": []})
	d.allow
	count(d.warn) == 0
}

test_license_unknown_warn if {
	d := modgate.decision with input as lic({"unknown": true, "expression": "", "ids": [], "files": [{"path": "LICENSE", "spdx": ""}]})
		with data.settings as {"licenses": {"unknown": "warn"}}
	d.allow
	"LICENSE_UNKNOWN" in warn_codes(d)
}

test_license_unknown_deny if {
	d := modgate.decision with input as lic({"unknown": true, "expression": "", "ids": [], "files": []})
		with data.settings as {"licenses": {"unknown": "deny"}}
	"LICENSE_UNKNOWN" in codes(d)
	some m in deny_messages(d)
	contains(m, "no license file")
}

test_license_denied_with_an_unknown_file if {
	d := modgate.decision with input as lic({"denied": ["GPL-3.0-only"], "unknown": true, "expression": "", "files": [{"path": "COPYING", "spdx": "GPL-3.0-only"}, {"path": "LICENSE", "spdx": ""}]})
	"LICENSE_DENIED" in codes(d)
	some m in deny_messages(d)
	contains(m, "licensed unknown")
}

test_deprecated_warns_by_default if {
	inp := json.patch(object.union(with_vulns("zip", []), {"deprecated": "use example.com/m2"}), [{"op": "replace", "path": "/facts/deprecated", "value": "use example.com/m2"}])
	d := modgate.decision with input as inp
	d.allow
	"DEPRECATED" in warn_codes(d)
}
