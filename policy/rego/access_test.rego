package cdp.access_test

import rego.v1

import data.cdp.access

catalogue := {
	"support": {"legal_basis": "contract", "requires_consent": false, "allows_objection": false},
	"billing": {"legal_basis": "contract", "requires_consent": false, "allows_objection": false},
	"marketing": {"legal_basis": "consent", "requires_consent": true, "allows_objection": true},
	"analytics": {"legal_basis": "legitimate_interests", "requires_consent": false, "allows_objection": true},
	"fraud_prevention": {"legal_basis": "legitimate_interests", "requires_consent": false, "allows_objection": true},
	"legal_claims": {"legal_basis": "legitimate_interests", "requires_consent": false, "allows_objection": false},
	"data_quality": {"legal_basis": "legitimate_interests", "requires_consent": false, "allows_objection": false},
	"compliance": {"legal_basis": "legal_obligation", "requires_consent": false, "allows_objection": false},
	"consent_management": {"legal_basis": "legal_obligation", "requires_consent": false, "allows_objection": false},
	"profiling": {"legal_basis": "legitimate_interests", "requires_consent": false, "allows_objection": true},
}

sources := [
	{"name": "billing", "department": "billing", "legal_basis": "contract", "purposes": []},
	{"name": "newsletter", "department": "marketing", "legal_basis": "consent", "purposes": ["marketing"]},
]

req(roles, purpose, consent) := {
	"principal": {"kind": "staff", "id": "alice", "department": "support", "roles": roles},
	"action": "read",
	"purpose": purpose,
	"purposes": catalogue,
	"resource": {"profile_id": "p1", "self": false, "consent": consent, "restricted": false, "legal_hold": false, "sources": sources},
}

test_support_reads_contact_details if {
	d := access.decision with input as req(["reader"], "support", {})
	d.allow
	"email" in d.fields
	"phone" in d.fields
	"street" in d.fields
	not "national_id" in d.fields
	not "birth_date" in d.fields
	d.sources == ["billing"]
}

test_marketing_needs_consent if {
	d := access.decision with input as req(["reader"], "marketing", {"marketing": "withdrawn"})
	not d.allow
	contains(d.reason, "no consent")
}

test_marketing_with_consent_sees_name_and_email_only if {
	d := access.decision with input as req(["reader"], "marketing", {"marketing": "granted"})
	d.allow
	{f | some f in d.fields} == {"given_name", "family_name", "full_name", "email"}
	d.sources == ["billing", "newsletter"]
}

test_consent_data_serves_only_its_purpose if {
	d := access.decision with input as req(["reader"], "billing", {"marketing": "granted"})
	d.allow
	d.sources == ["billing"]
}

test_national_id_only_for_purposes_that_need_it if {
	every p in ["support", "billing", "marketing", "analytics"] {
		d := access.decision with input as req(["dpo"], p, {"marketing": "granted"})
		not "national_id" in d.fields
	}
	d := access.decision with input as req(["dpo"], "legal_claims", {})
	"national_id" in d.fields
}

test_reader_may_not_use_legal_claims if {
	d := access.decision with input as req(["reader"], "legal_claims", {})
	not d.allow
}

allowed(r) if {
	d := access.decision with input as r
	d.allow
}

test_restricted_profile_only_for_legal_claims if {
	r := json.patch(req(["dpo"], "support", {}), [{"op": "replace", "path": "/resource/restricted", "value": true}])
	not allowed(r)
	allowed(json.patch(r, [{"op": "replace", "path": "/purpose", "value": "legal_claims"}]))
	# The DPO still answers the person's own requests about it.
	allowed(json.patch(r, [{"op": "replace", "path": "/purpose", "value": "compliance"}]))
	not allowed(json.patch(r, [{"op": "replace", "path": "/purpose", "value": "marketing"}]))
}

test_objection_stops_analytics if {
	not allowed(req(["reader"], "analytics", {"analytics": "objected"}))
	allowed(req(["reader"], "analytics", {}))
}

test_unknown_purpose_denied if {
	d := access.decision with input as req(["dpo"], "curiosity", {})
	not d.allow
	contains(d.reason, "unknown purpose")
}

test_no_roles_no_data if {
	not allowed(req([], "support", {}))
	not allowed(req(["ingest"], "support", {}))
}

test_customer_reads_own_profile if {
	r := {
		"principal": {"kind": "customer", "id": "k1", "roles": []},
		"action": "read", "purpose": "self_service", "purposes": catalogue,
		"resource": {"profile_id": "p1", "self": true, "consent": {}, "sources": sources},
	}
	d := access.decision with input as r
	d.allow
	"national_id" in d.fields
	d.sources == ["billing", "newsletter"]
	not allowed(json.patch(r, [{"op": "replace", "path": "/resource/self", "value": false}]))
	not allowed(json.patch(r, [{"op": "replace", "path": "/action", "value": "erase"}]))
	not allowed(json.patch(r, [{"op": "replace", "path": "/purpose", "value": "marketing"}]))
}

test_steward_actions_show_no_attributes if {
	r := json.patch(req(["steward"], "data_quality", {}), [{"op": "replace", "path": "/action", "value": "merge"}])
	d := access.decision with input as r
	d.allow
	d.fields == []
	not allowed(json.patch(r, [{"op": "replace", "path": "/principal/roles", "value": ["reader"]}]))
}

test_lineage_shows_notes_only if {
	r := json.patch(req(["steward"], "data_quality", {}), [{"op": "replace", "path": "/action", "value": "lineage"}])
	d := access.decision with input as r
	d.fields == ["note"]
}

test_stewards_compare_records_without_national_ids if {
	d := access.decision with input as req(["steward"], "data_quality", {})
	d.allow
	"birth_date" in d.fields
	"email" in d.fields
	not "national_id" in d.fields
	not "extra" in d.fields
	not allowed(req(["reader"], "data_quality", {}))
	not allowed(req(["steward"], "billing", {}))
}

test_compliance_is_for_the_dpo if {
	d := access.decision with input as req(["dpo"], "compliance", {})
	d.allow
	"national_id" in d.fields
	not allowed(req(["reader"], "compliance", {}))
	not allowed(req(["steward"], "compliance", {}))
}

test_audit_queries_are_for_the_dpo if {
	r := json.patch(req(["dpo"], "compliance", {}), [{"op": "replace", "path": "/action", "value": "audit"}])
	allowed(r)
	not allowed(json.patch(r, [{"op": "replace", "path": "/principal/roles", "value": ["reader"]}]))
}

test_catalogue_and_conflicts_are_for_the_dpo if {
	every a in ["conflicts", "catalogue", "requests"] {
		r := json.patch(req(["dpo"], "compliance", {}), [{"op": "replace", "path": "/action", "value": a}])
		d := access.decision with input as r
		d.allow
		d.fields == []
		not allowed(json.patch(r, [{"op": "replace", "path": "/principal/roles", "value": ["reader", "steward", "ingest", "admin"]}]))
	}
}

consent_req(roles, action) := json.patch(req(roles, "consent_management", {}), [
	{"op": "replace", "path": "/action", "value": action},
	{"op": "add", "path": "/resource/record", "value": {"source": "helpdesk", "department": "support"}},
])

test_departments_record_consent_they_collected if {
	d := access.decision with input as consent_req(["ingest"], "record_consent")
	d.allow
	d.fields == ["consent"]
	not allowed(consent_req(["reader"], "record_consent"))
}

test_departments_record_consent_only_on_their_own_records if {
	r := json.patch(consent_req(["ingest"], "record_consent"), [{"op": "replace", "path": "/resource/record", "value": {"source": "newsletter", "department": "marketing"}}])
	d := access.decision with input as r
	not d.allow
	contains(d.reason, "its own records")
	not allowed(json.remove(consent_req(["ingest"], "record_consent"), ["/resource/record"]))
	allowed(json.patch(r, [{"op": "replace", "path": "/principal/roles", "value": ["dpo"]}]))
}

test_consent_state_is_readable_by_staff_roles if {
	every r in ["reader", "steward", "dpo"] {
		allowed(consent_req([r], "consents"))
	}
	not allowed(consent_req(["admin"], "consents"))
	not allowed(consent_req(["ingest"], "consents"))
}

test_proof_with_evidence_is_for_the_dpo if {
	d := access.decision with input as consent_req(["dpo"], "proof")
	d.allow
	"consent_evidence" in d.fields
	not allowed(consent_req(["reader"], "proof"))
	not allowed(consent_req(["ingest"], "proof"))
}

test_consent_work_needs_its_own_purpose if {
	not allowed(json.patch(req(["ingest"], "support", {}), [{"op": "replace", "path": "/action", "value": "record_consent"}]))
	not allowed(json.patch(consent_req(["reader"], "read"), []))
}

test_a_restricted_profile_still_hears_a_withdrawal if {
	r := json.patch(consent_req(["ingest"], "record_consent"), [{"op": "replace", "path": "/resource/restricted", "value": true}])
	allowed(r)
}

test_customers_manage_their_own_consent if {
	r := {
		"principal": {"kind": "customer", "id": "k1", "roles": []},
		"action": "record_consent", "purpose": "self_service", "purposes": catalogue,
		"resource": {"profile_id": "p1", "self": true, "consent": {}, "sources": sources},
	}
	allowed(r)
	allowed(json.patch(r, [{"op": "replace", "path": "/action", "value": "consents"}]))
	not allowed(json.patch(r, [{"op": "replace", "path": "/action", "value": "proof"}]))
	not allowed(json.patch(r, [{"op": "replace", "path": "/resource/self", "value": false}]))
}

test_access_exports_show_every_source if {
	consent_source := {"name": "newsletter", "department": "marketing", "legal_basis": "consent", "purposes": ["marketing"]}
	r := json.patch(req(["dpo"], "compliance", {}), [
		{"op": "replace", "path": "/action", "value": "export"},
		{"op": "add", "path": "/resource/sources/-", "value": consent_source},
	])
	d := access.decision with input as r
	"newsletter" in d.sources
	read := access.decision with input as json.patch(r, [{"op": "replace", "path": "/action", "value": "read"}])
	not "newsletter" in read.sources
}

# A timeline shows each purpose its own kinds of contact: support its
# tickets and orders with their text, marketing the campaign responses
# only with consent, analytics every type without free text.
test_timeline_by_purpose if {
	d := access.decision with input as object.union(req(["reader"], "support", {}), {"action": "timeline"})
	d.allow
	"interaction:ticket" in d.fields
	"interaction_attributes" in d.fields
	not "interaction:campaign_response" in d.fields

	m := access.decision with input as object.union(req(["reader"], "marketing", {}), {"action": "timeline"})
	not m.allow

	g := access.decision with input as object.union(req(["reader"], "marketing", {"marketing": "granted"}), {"action": "timeline"})
	g.allow
	g.fields == ["interaction:campaign_response"]

	a := access.decision with input as object.union(req(["reader"], "analytics", {}), {"action": "timeline"})
	a.fields == ["interaction:*"]
}

# Traits are read for the purposes that act on them, marketing only with
# consent; an objection to profiling stops every read and every
# activation of what was derived, whatever purpose asks.
test_traits_obey_profiling_objections if {
	d := access.decision with input as object.union(req(["reader"], "profiling", {}), {"action": "traits"})
	d.allow
	d.fields == ["segments", "traits"]

	s := access.decision with input as object.union(req(["reader"], "support", {}), {"action": "traits"})
	s.fields == ["traits"]

	b := access.decision with input as object.union(req(["reader"], "billing", {}), {"action": "traits"})
	b.reason == "this purpose does not see the traits"
	not access.decision.allow with input as object.union(req(["reader"], "marketing", {}), {"action": "traits"})

	o := access.decision with input as object.union(req(["reader"], "support", {"profiling": "objected"}), {"action": "traits"})
	not o.allow
	o.reason == "the person objected to profiling"

	a := access.decision with input as object.union(req(["reader"], "marketing", {"marketing": "granted", "profiling": "objected"}), {"action": "activate"})
	not a.allow

	g := access.decision with input as object.union(req(["reader"], "marketing", {"marketing": "granted"}), {"action": "activate"})
	g.allow

	# Reading a profile for support is not profiling: the objection does not stop it.
	r := access.decision with input as req(["reader"], "support", {"profiling": "objected"})
	r.allow
}

# Defining a segment concerns no person: marketing may define one without
# anyone's consent; each member is decided when it is activated. Why each
# member entered (the values of its traits) is shown only under a purpose
# that sees traits.
test_segments_concern_no_person if {
	d := access.decision with input as object.union(req(["reader"], "marketing", {}), {"action": "segments"})
	d.allow
	d.fields == ["traits"]
	not access.decision.allow with input as object.union(req(["reader"], "marketing", {}), {"action": "activate"})
	b := access.decision with input as object.union(req(["reader"], "billing", {}), {"action": "segments"})
	b.allow
	b.fields == []
}

# The DPO names the departments of a purpose: staff of another department
# may not declare it, whatever their role; the DPO may.
test_a_purpose_is_declared_by_its_departments_only if {
	bound := object.union(catalogue, {"marketing": object.union(catalogue.marketing, {"departments": ["marketing"]})})
	support_reader := object.union(req(["reader"], "marketing", {"marketing": "granted"}), {"purposes": bound})
	d := access.decision with input as support_reader
	not d.allow
	d.reason == "the department support is not named for this purpose"
	marketing_reader := object.union(support_reader, {"principal": object.union(support_reader.principal, {"department": "marketing"})})
	access.decision.allow with input as marketing_reader
	dpo := object.union(support_reader, {"principal": object.union(support_reader.principal, {"roles": ["dpo"]})})
	access.decision.allow with input as dpo
	# Unbound purposes stay open to every department the role allows.
	access.decision.allow with input as object.union(req(["reader"], "support", {}), {"purposes": bound})
}
