# cdp access policy: who may read which fields of a person's profile, for
# which purpose.
#
# The read path asks data.cdp.access.decision with this input:
#
#   principal: {kind: "staff"|"customer", id, department, roles: [...]}
#   action:    "read" | "search" | "records" | "lineage" | "review" | "merge" |
#              "split" | "decide" | "export" | "erase" | "audit"
#   purpose:   a purpose id from the catalogue (input.purposes)
#   purposes:  the catalogue: {id: {legal_basis, requires_consent, allows_objection}}
#   resource:  {profile_id, self (the principal is the data subject),
#               consent: {purpose: "granted"|"denied"|"withdrawn"|"objected"|"expired"},
#               restricted, legal_hold,
#               sources: [{name, department, legal_basis, purposes: [...]}]}
#
# and gets a decision: {allow, fields, sources, reason}. A denial, a policy
# error or an undefined result all mean: nothing is read.
package cdp.access

import rego.v1

# The attributes of a profile, as field names: the canonical attributes,
# "extra" (a department's own columns) and "source_id" (a department's own
# id of its record, personal data because some use an email as id).
all_fields := {
	"given_name", "family_name", "full_name", "birth_date", "gender",
	"email", "phone", "street", "address_line2", "postcode", "city",
	"region", "country", "national_id", "extra", "source_id",
}

# Data minimisation: what each purpose needs, no more. Nobody sees a national
# id without a purpose that needs one. (Written out in full: ground values
# are compiled once, unions would be computed at every decision.)
purpose_fields := {
	"support": {
		"given_name", "family_name", "full_name", "email", "phone",
		"street", "address_line2", "postcode", "city", "region", "country",
		"source_id",
	},
	"billing": {
		"given_name", "family_name", "full_name", "email",
		"street", "address_line2", "postcode", "city", "region", "country",
		"source_id",
	},
	"marketing": {"given_name", "family_name", "full_name", "email"},
	"analytics": {"gender", "birth_date", "postcode", "city", "region", "country"},
	# Stewards compare records to decide links: everything that matching
	# uses, but no national id and no department's own columns.
	"data_quality": {
		"given_name", "family_name", "full_name", "birth_date", "gender",
		"email", "phone", "street", "address_line2", "postcode", "city",
		"region", "country", "source_id",
	},
	"fraud_prevention": all_fields,
	"legal_claims": all_fields,
	"compliance": all_fields,
	"self_service": all_fields,
}

# The purposes each staff role may declare for reading profiles.
role_purposes := {
	"reader": {"support", "billing", "marketing", "analytics"},
	"steward": {"support", "data_quality"},
	"dpo": {
		"support", "billing", "marketing", "analytics", "fraud_prevention",
		"legal_claims", "data_quality", "compliance",
	},
}

# The roles each action needs, beyond reading.
action_roles := {
	"read": {"reader", "steward", "dpo"},
	"search": {"reader", "steward", "dpo"},
	"records": {"reader", "steward", "dpo"},
	"lineage": {"steward", "dpo"},
	"review": {"steward", "dpo"},
	"merge": {"steward", "dpo"},
	"split": {"steward", "dpo"},
	"decide": {"steward", "dpo"},
	"export": {"dpo"},
	"erase": {"dpo"},
	"audit": {"dpo"},
}

# What customers may do with their own profile.
customer_actions := {"read", "records", "export"}

catalogue := object.get(input, "purposes", {})

purpose := catalogue[input.purpose]

consent_state := object.get(object.get(input.resource, "consent", {}), input.purpose, "")

staff if input.principal.kind == "staff"

customer if input.principal.kind == "customer"

# The first reason that denies the request, checked in order (the first
# that holds ends the evaluation).
denial := "unknown purpose" if {
	not catalogue[input.purpose]
	input.purpose != "self_service"
} else := "unknown principal kind" if {
	not staff
	not customer
} else := "a customer may read only their own profile" if {
	customer
	not input.resource.self
} else := "a customer may not do this" if {
	customer
	not input.action in customer_actions
} else := "customers read with the purpose self_service" if {
	customer
	input.purpose != "self_service"
} else := "self-service reads are for customers" if {
	staff
	input.purpose == "self_service"
} else := "no role allows this action" if {
	staff
	not role_allows_action
} else := "no role allows this purpose" if {
	staff
	not role_allows_purpose
} else := "processing is restricted" if {
	# A restricted profile (Art. 18) is only stored, or read to establish,
	# exercise or defend legal claims.
	input.resource.restricted
	input.purpose != "legal_claims"
	not customer
} else := "no consent for this purpose" if {
	# Consent-based purposes need consent granted and not expired.
	staff
	purpose.requires_consent
	consent_state != "granted"
} else := "the person objected to this purpose" if {
	# An objection (Art. 21) stops processing for purposes that allow one.
	staff
	purpose.allows_objection
	consent_state == "objected"
}

role_allows_action if {
	some r in input.principal.roles
	r in object.get(action_roles, input.action, set())
}

role_allows_purpose if {
	some r in input.principal.roles
	input.purpose in object.get(role_purposes, r, set())
}

# Sources whose data may serve this purpose: collected for it (or for any
# purpose), and when collected under consent, only while consent holds.
allowed_sources contains s.name if {
	some s in input.resource.sources
	source_serves(s)
}

source_serves(s) if {
	customer
}

source_serves(s) if {
	staff
	purposes := object.get(s, "purposes", [])
	count(purposes) == 0
	s.legal_basis != "consent"
}

source_serves(s) if {
	staff
	input.purpose in object.get(s, "purposes", [])
	s.legal_basis != "consent"
}

source_serves(s) if {
	staff
	s.legal_basis == "consent"
	input.purpose in object.get(s, "purposes", [])
	consent_state == "granted"
}

# Actions that show no attribute: ids, scores, levels and decisions only
# (a lineage also shows the stewards' notes).
attribute_free := {"lineage", "review", "merge", "split", "decide", "audit"}

allowed_fields := purpose_fields[input.purpose] if {
	not input.action in attribute_free
}

allowed_fields := {"note"} if {
	input.action == "lineage"
}

allowed_fields := set() if {
	input.action in attribute_free
	input.action != "lineage"
}

default decision := {"allow": false, "fields": [], "sources": [], "reason": "no rule decides this request"}

decision := {"allow": false, "fields": [], "sources": [], "reason": denial} if denial

decision := {
	"allow": true,
	"fields": sort(allowed_fields),
	"sources": sort(allowed_sources),
	"reason": concat(" ", [input.action, "for", input.purpose]),
} if {
	not denial
	allowed_fields
}
