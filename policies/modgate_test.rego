package modgate_test

import rego.v1

import data.modgate

base_input(kind) := {
	"request": {"kind": kind, "time": "2026-01-10T00:00:00Z", "epoch": 1768003200, "identity": {"id": "ci", "method": "bearer", "groups": ["builders"]}},
	"module": {"path": "example.com/m", "version": "v1.2.0", "major": "v1", "prerelease": "", "pseudo": false, "incompatible": false, "base": "v1.2.0"},
	"match": {"allowed": true, "deniedBy": "", "groupAllowed": true, "banned": [], "waivers": [], "cooldownExempt": false},
	"facts": {"publishTime": "2025-01-01T00:00:00Z", "publishEpoch": 1735689600, "retracted": false, "deprecated": "", "zipSize": 1000, "fileCount": 3, "checksum": {"verified": true, "method": "sumdb"}},
}

codes(d) := {r.code | some r in d.deny}

warn_codes(d) := {r.code | some r in d.warn}

test_allow_by_default if {
	d := modgate.decision with input as base_input("zip")
	d.allow
	count(d.deny) == 0
}

test_source_denied_everywhere if {
	every kind in ["zip", "mod", "info", "list", "latest", "sumdb"] {
		inp := json.patch(base_input(kind), [{"op": "replace", "path": "/match/deniedBy", "value": "evil.example"}])
		d := modgate.decision with input as inp
		not d.allow
		"SOURCE_DENIED" in codes(d)
	}
}

test_source_not_allowed if {
	inp := json.patch(base_input("mod"), [{"op": "replace", "path": "/match/allowed", "value": false}])
	"SOURCE_NOT_ALLOWED" in codes(modgate.decision) with input as inp
}

test_group_not_allowed if {
	inp := json.patch(base_input("zip"), [{"op": "replace", "path": "/match/groupAllowed", "value": false}])
	"GROUP_NOT_ALLOWED" in codes(modgate.decision) with input as inp
}

banned(kind) := json.patch(base_input(kind), [{"op": "replace", "path": "/match/banned", "value": [{"versions": ">= v1.2.0 < v1.2.5", "reason": "CVE-2026-0001"}]}])

test_banned_zip_denied if {
	d := modgate.decision with input as banned("zip")
	not d.allow
	"VERSION_BANNED" in codes(d)
}

test_banned_list_entry_denied if {
	"VERSION_BANNED" in codes(modgate.decision) with input as banned("list")
}

test_banned_mod_and_info_allowed if {
	mod := modgate.decision with input as banned("mod")
	mod.allow
	info := modgate.decision with input as banned("info")
	info.allow
}

test_waiver_allows_until_expiry if {
	live := json.patch(banned("zip"), [{"op": "replace", "path": "/match/waivers", "value": [{"reason": "vendor fix pending", "expires": "2026-02-01T00:00:00Z", "expiresEpoch": 1769904000}]}])
	d := modgate.decision with input as live
	d.allow
	"WAIVED" in warn_codes(d)
	expired := json.patch(live, [{"op": "replace", "path": "/request/epoch", "value": 1769904001}])
	after := modgate.decision with input as expired
	not after.allow
}

test_cooldown if {
	young := json.patch(base_input("zip"), [{"op": "replace", "path": "/facts/publishEpoch", "value": 1768000000}])
	d := modgate.decision with input as young with data.settings as {"minReleaseAgeHours": 72}
	"MIN_RELEASE_AGE" in codes(d)
	old := modgate.decision with input as base_input("zip") with data.settings as {"minReleaseAgeHours": 72}
	old.allow
	exempt := json.patch(young, [{"op": "replace", "path": "/match/cooldownExempt", "value": true}])
	e := modgate.decision with input as exempt with data.settings as {"minReleaseAgeHours": 72}
	e.allow
}

test_cooldown_fails_closed_without_publish_time if {
	every kind in ["zip", "list"] {
		no_time := json.patch(base_input(kind), [{"op": "remove", "path": "/facts/publishEpoch"}])
		d := modgate.decision with input as no_time with data.settings as {"minReleaseAgeHours": 72}
		not d.allow
		codes(d) == {"PUBLISH_TIME_UNKNOWN"}
		{r.message | some r in d.deny} == {"modgate could not learn when example.com/m@v1.2.0 was published, and the cool-down of 72 hours needs it"}
	}
}

test_unknown_publish_time_denied_whatever_its_shape if {
	every epoch in ["1735689600", null, true] {
		inp := json.patch(base_input("zip"), [{"op": "replace", "path": "/facts/publishEpoch", "value": epoch}])
		codes(modgate.decision) == {"PUBLISH_TIME_UNKNOWN"} with input as inp with data.settings as {"minReleaseAgeHours": 72}
	}
}

test_unknown_publish_time_needs_a_cooldown_in_force if {
	no_time := json.patch(base_input("zip"), [{"op": "remove", "path": "/facts/publishEpoch"}, {"op": "remove", "path": "/facts/publishTime"}])
	off := modgate.decision with input as no_time with data.settings as {"minReleaseAgeHours": 0}
	off.allow
	unset := modgate.decision with input as no_time
	unset.allow
	exempt := json.patch(no_time, [{"op": "replace", "path": "/match/cooldownExempt", "value": true}])
	e := modgate.decision with input as exempt with data.settings as {"minReleaseAgeHours": 72}
	e.allow
	every kind in ["mod", "info", "latest", "sumdb"] {
		other := json.patch(no_time, [{"op": "replace", "path": "/request/kind", "value": kind}])
		o := modgate.decision with input as other with data.settings as {"minReleaseAgeHours": 72}
		o.allow
	}
}

test_unknown_publish_time_needs_a_version if {
	# The @v/list request itself is a module, not a version: its entries are decided one by one.
	whole_list := json.patch(base_input("list"), [{"op": "remove", "path": "/module/version"}, {"op": "remove", "path": "/facts/publishEpoch"}])
	d := modgate.decision with input as whole_list with data.settings as {"minReleaseAgeHours": 72}
	d.allow
}

test_unknown_publish_time_is_waivable if {
	inp := json.patch(base_input("zip"), [
		{"op": "remove", "path": "/facts/publishEpoch"},
		{"op": "replace", "path": "/match/waivers", "value": [{"reason": "vendored", "expires": "2026-02-01T00:00:00Z", "expiresEpoch": 1769904000}]},
	])
	d := modgate.decision with input as inp with data.settings as {"minReleaseAgeHours": 72}
	d.allow
	"WAIVED" in warn_codes(d)
}

test_retracted if {
	inp := json.patch(base_input("list"), [{"op": "replace", "path": "/facts/retracted", "value": true}])
	"VERSION_RETRACTED" in codes(modgate.decision) with input as inp with data.settings as {"denyRetracted": true}
	d := modgate.decision with input as inp with data.settings as {"denyRetracted": false}
	d.allow
}

test_retraction_fails_closed_when_unknown if {
	every kind in ["zip", "list"] {
		every v in [null, "true", 1] {
			odd := json.patch(base_input(kind), [{"op": "replace", "path": "/facts/retracted", "value": v}])
			d := modgate.decision with input as odd with data.settings as {"denyRetracted": true}
			codes(d) == {"RETRACTION_UNKNOWN"}
		}
		gone := json.patch(base_input(kind), [{"op": "remove", "path": "/facts/retracted"}])
		d := modgate.decision with input as gone with data.settings as {"denyRetracted": true}
		not d.allow
		{r.message | some r in d.deny} == {"modgate could not learn whether example.com/m@v1.2.0 is retracted (its module's latest go.mod could not be had), and denyRetracted needs it"}
		off := modgate.decision with input as gone with data.settings as {"denyRetracted": false}
		off.allow
		known := modgate.decision with input as base_input(kind) with data.settings as {"denyRetracted": true}
		known.allow
	}
}

test_pseudo_versions if {
	inp := json.patch(base_input("zip"), [{"op": "replace", "path": "/module/pseudo", "value": true}])
	"PSEUDO_VERSION_DENIED" in codes(modgate.decision) with input as inp with data.settings as {"pseudoVersions": "deny"}
	d := modgate.decision with input as inp with data.settings as {"pseudoVersions": "warn"}
	d.allow
	"PSEUDO_VERSION" in warn_codes(d)
	plain := modgate.decision with input as inp
	plain.allow
}

test_incompatible if {
	inp := json.patch(base_input("zip"), [{"op": "replace", "path": "/module/incompatible", "value": true}])
	"INCOMPATIBLE_DENIED" in codes(modgate.decision) with input as inp with data.settings as {"incompatible": "deny"}
	"INCOMPATIBLE" in warn_codes(modgate.decision) with input as inp with data.settings as {"incompatible": "warn"}
}

test_max_zip_size if {
	big := json.patch(base_input("zip"), [{"op": "replace", "path": "/facts/zipSize", "value": 2000}])
	"ZIP_TOO_LARGE_POLICY" in codes(modgate.decision) with input as big with data.settings as {"maxZipBytes": 1500}
	small := modgate.decision with input as base_input("zip") with data.settings as {"maxZipBytes": 1500}
	small.allow
}

test_checksum_unverified if {
	inp := json.patch(base_input("zip"), [{"op": "replace", "path": "/facts/checksum/verified", "value": false}])
	"CHECKSUM_UNVERIFIED" in codes(modgate.decision) with input as inp
}

test_deprecated_warns if {
	inp := json.patch(base_input("zip"), [{"op": "replace", "path": "/facts/deprecated", "value": "use example.com/m2"}])
	d := modgate.decision with input as inp
	d.allow
	"DEPRECATED" in warn_codes(d)
}

test_group_denial_without_identity if {
	inp := json.patch(base_input("mod"), [
		{"op": "replace", "path": "/match/groupAllowed", "value": false},
		{"op": "remove", "path": "/request/identity"},
	])
	d := modgate.decision with input as inp
	not d.allow
	some r in d.deny
	r.code == "GROUP_NOT_ALLOWED"
	r.message == "example.com/m is not allowed for the groups of anonymous"
}

test_denials_survive_missing_optional_fields if {
	inp := json.patch(banned("zip"), [
		{"op": "replace", "path": "/match/banned", "value": [{}]},
		{"op": "remove", "path": "/facts/publishTime"},
		{"op": "replace", "path": "/facts/publishEpoch", "value": 1768000000},
		{"op": "remove", "path": "/facts/checksum/method"},
		{"op": "replace", "path": "/facts/checksum/verified", "value": false},
	])
	d := modgate.decision with input as inp with data.settings as {"minReleaseAgeHours": 72}
	codes(d) == {"VERSION_BANNED", "MIN_RELEASE_AGE", "CHECKSUM_UNVERIFIED"}
	{r.message | some r in d.deny} == {
		"example.com/m@v1.2.0 is banned (*): banned",
		"example.com/m@v1.2.0 was published recently, less than 72 hours ago (cool-down)",
		"example.com/m@v1.2.0 was not verified (method none)",
	}
}

test_version_rules_skip_other_kinds if {
	every kind in ["mod", "info", "latest", "sumdb"] {
		inp := json.patch(banned(kind), [
			{"op": "replace", "path": "/module/pseudo", "value": true},
			{"op": "replace", "path": "/facts/retracted", "value": true},
			{"op": "replace", "path": "/facts/publishEpoch", "value": 1768000000},
		])
		d := modgate.decision with input as inp with data.settings as {"minReleaseAgeHours": 72, "denyRetracted": true, "pseudoVersions": "deny"}
		d.allow
		count(d.warn) == 0
	}
}

test_zip_rules_skip_list_entries if {
	inp := json.patch(base_input("list"), [
		{"op": "replace", "path": "/facts/zipSize", "value": 2000},
		{"op": "replace", "path": "/facts/checksum/verified", "value": false},
	])
	d := modgate.decision with input as inp with data.settings as {"maxZipBytes": 1500}
	d.allow
}

test_waiver_lifts_only_version_denials if {
	inp := json.patch(banned("zip"), [
		{"op": "replace", "path": "/match/waivers", "value": [{"reason": "r", "expires": "2026-02-01T00:00:00Z", "expiresEpoch": 1769904000}]},
		{"op": "replace", "path": "/match/deniedBy", "value": "example.com"},
		{"op": "replace", "path": "/facts/checksum/verified", "value": false},
	])
	codes(modgate.decision) == {"SOURCE_DENIED", "CHECKSUM_UNVERIFIED"} with input as inp
}

test_expired_waiver_gives_no_warning if {
	inp := json.patch(banned("zip"), [{"op": "replace", "path": "/match/waivers", "value": [{"reason": "r", "expires": "2026-01-01T00:00:00Z", "expiresEpoch": 1767225600}]}])
	d := modgate.decision with input as inp
	codes(d) == {"VERSION_BANNED"}
	not "WAIVED" in warn_codes(d)
}

test_allow_matches_deny if {
	allowed := modgate.decision with input as base_input("zip")
	allowed.allow
	allowed.deny == []
	denied := modgate.decision with input as banned("zip")
	denied.allow == false
	count(denied.deny) == 1
}
