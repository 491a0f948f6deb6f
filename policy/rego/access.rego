# cdp access policy: who may read which fields of a person's profile, for
# which purpose.
#
# The read path asks data.cdp.access.decision with this input:
#
#   principal: {kind: "staff"|"customer", id, department, roles: [...]}
#   action:    "read" | "search" | "records" | "lineage" | "review" | "merge" |
#              "split" | "decide" | "export" | "erase" | "audit" |
#              "consents" (read consent state and history) |
#              "record_consent" (record a person's statement) |
#              "proof" (consent history with notices and sealed evidence) |
#              "conflicts" (consent conflicts of merges) |
#              "catalogue" (change purposes, publish notices) |
#              "requests" (the DPO handles data-subject requests) |
#              "request" (a customer makes one)
#   purpose:   a purpose id from the catalogue (input.purposes)
#   purposes:  the catalogue entry of the declared purpose (empty when the
#              purpose is not in the catalogue):
#              {id: {legal_basis, requires_consent, allows_objection,
#                    departments: [...] (the only departments whose staff may
#                    declare it; empty: any)}}
#   resource:  {profile_id, self (the principal is the data subject),
#               consent: {purpose: "granted"|"denied"|"withdrawn"|"objected"|"expired"},
#               restricted, legal_hold,
#               sources: [{name, department, legal_basis, purposes: [...]}],
#               record: {source, department} (record_consent: the record
#               the statement is attached to, under whose key its
#               evidence is sealed)}
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
# id without a purpose that needs one. (Written out in full, all_fields
# included: a ground value costs nothing at evaluation, a reference to
# another rule would rebuild the whole object at every decision.)
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
	"fraud_prevention": {
		"given_name", "family_name", "full_name", "birth_date", "gender",
		"email", "phone", "street", "address_line2", "postcode", "city",
		"region", "country", "national_id", "extra", "source_id",
	},
	"legal_claims": {
		"given_name", "family_name", "full_name", "birth_date", "gender",
		"email", "phone", "street", "address_line2", "postcode", "city",
		"region", "country", "national_id", "extra", "source_id",
	},
	"compliance": {
		"given_name", "family_name", "full_name", "birth_date", "gender",
		"email", "phone", "street", "address_line2", "postcode", "city",
		"region", "country", "national_id", "extra", "source_id",
	},
	"self_service": {
		"given_name", "family_name", "full_name", "birth_date", "gender",
		"email", "phone", "street", "address_line2", "postcode", "city",
		"region", "country", "national_id", "extra", "source_id",
	},
}

# The purposes each staff role may declare for reading profiles.
role_purposes := {
	"reader": {"support", "billing", "marketing", "analytics", "profiling"},
	"steward": {"support", "data_quality"},
	"dpo": {
		"support", "billing", "marketing", "analytics", "fraud_prevention",
		"legal_claims", "data_quality", "compliance", "profiling",
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
	# An ingest system records what its department collected; reading a
	# person's consent state is not its business.
	"consents": {"reader", "steward", "dpo"},
	"record_consent": {"ingest", "dpo"},
	"proof": {"dpo"},
	"conflicts": {"dpo"},
	"catalogue": {"dpo"},
	"requests": {"dpo"},
	"timeline": {"reader", "steward", "dpo"},
	# Profiling: reading a person's traits and segments, working with
	# segments (attribute-free), activating a segment (per person), and
	# computing everyone's traits.
	"traits": {"reader", "dpo"},
	"segments": {"reader", "dpo"},
	"activate": {"reader", "dpo"},
	"profile_all": {"dpo"},
}

# Who sees a person's computed traits and segments (Art. 4(4)): the
# profiling purpose itself, the purposes that act on them (marketing only
# with consent: consent_blocks), and the DPO answering the person.
traits_fields := {
	"profiling": {"traits", "segments"},
	"marketing": {"traits", "segments"},
	"analytics": {"traits", "segments"},
	"support": {"traits"},
	# A segment with legal or similar effects is reviewed by a person
	# before it acts (Art. 22(3)): the reviewer weighs the values that
	# put each person in it. The demo's return-review is one.
	"fraud_prevention": {"traits"},
	"compliance": {"traits", "segments"},
	"self_service": {"traits", "segments"},
}

# Actions on no person: working with segments (their members are decided
# person by person when activated) and computing everyone's traits (the
# profiler decides person by person).
person_free := {"segments", "profile_all"}

# A person who objected to profiling is not profiled, and what was
# derived of them is neither read nor sent anywhere, whatever purpose asks.
profiling_actions := {"traits", "activate"}

profiling_blocks if {
	input.action in profiling_actions
	object.get(input.resource.consent, "profiling", "") == "objected"
}

# A purpose without a view of the timeline or the traits sees none of it.
unseen_blocks if {
	input.action == "timeline"
	not timeline_fields[input.purpose]
}

unseen_blocks if {
	input.action == "traits"
	not traits_fields[input.purpose]
}

# What a purpose sees of a person's timeline (interactions): the types as
# "interaction:<type>" ("interaction:*": every type) and
# "interaction_attributes" for their free text. Support sees the contacts
# it handles, billing the orders and returns, marketing the responses to
# its campaigns (and only with consent: consent_blocks), analytics every
# type without free text.
timeline_fields := {
	"support": {
		"interaction:order", "interaction:return", "interaction:ticket", "interaction:call",
		"interaction:email", "interaction:complaint", "interaction:visit", "interaction_attributes",
	},
	"billing": {"interaction:order", "interaction:return", "interaction_attributes"},
	"marketing": {"interaction:campaign_response"},
	"analytics": {"interaction:*"},
	"fraud_prevention": {"interaction:*", "interaction_attributes"},
	"legal_claims": {"interaction:*", "interaction_attributes"},
	"compliance": {"interaction:*", "interaction_attributes"},
	"self_service": {"interaction:*", "interaction_attributes"},
}

# Consent work happens under its own purpose, whoever does it (a
# department recording what it collected, a reader checking a state):
# keeping records of consent is what Art. 7(1) demands.
consent_actions := {"consents", "record_consent", "proof"}

consent_fields := {
	"consents": {"consent"},
	"record_consent": {"consent"},
	"proof": {"consent", "consent_evidence"},
}

# What customers may do with their own profile.
customer_actions := {"read", "records", "export", "consents", "record_consent", "request", "reads", "dispute", "timeline", "traits"}

# Actions that show no attribute: ids, scores, levels and decisions only
# (a lineage also shows the stewards' notes).
attribute_free := {
	"lineage", "review", "merge", "split", "decide", "audit", "conflicts", "catalogue", "requests", "request",
	"segments", "profile_all",
}

purpose := input.purposes[input.purpose]

consent_state := object.get(input.resource.consent, input.purpose, "")

staff if input.principal.kind == "staff"

customer if input.principal.kind == "customer"

# A request is permitted when every condition holds; this conjunction is
# what most requests evaluate. Only a refused request looks for the reason,
# in denial below.
permitted if {
	staff
	purpose
	role_allows_action
	role_allows_purpose
	not restriction_blocks
	not consent_blocks
	not objection_blocks
	not profiling_blocks
	not unseen_blocks
	not department_blocks
}

permitted if {
	customer
	input.purpose == "self_service"
	input.resource.self
	input.action in customer_actions
}

# A restricted profile (Art. 18) is only stored, or read to establish,
# exercise or defend legal claims; the person themselves still sees it.
restriction_blocks if {
	input.resource.restricted
	input.purpose != "legal_claims"
	input.purpose != "consent_management" # a withdrawal is always heard
	input.purpose != "compliance" # answering the person's own requests (Art. 15-21) is a legal obligation
}

# A department records consent only on its own records: what it collected
# is attached, with its evidence, to a record it holds, never to another
# department's. The DPO acts for the controller and may attach anywhere.
department_blocks if {
	input.action == "record_consent"
	not "dpo" in input.principal.roles
	not own_record
}

own_record if input.resource.record.department == input.principal.department

# Consent-based purposes need the person's consent granted and not
# expired; an action on no person (defining a segment) needs none.
consent_blocks if {
	not input.action in person_free
	purpose.requires_consent
	consent_state != "granted"
}

# An objection (Art. 21) stops processing for purposes that allow one.
objection_blocks if {
	not input.action in person_free
	purpose.allows_objection
	consent_state == "objected"
}

# Why a request is refused: the first reason that holds, in order.
denial := "unknown purpose" if {
	not purpose
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
	not role_allows_action
} else := concat(" ", ["the department", input.principal.department, "is not named for this purpose"]) if {
	not role_allows_purpose
	department_not_named
} else := "no role allows this purpose" if {
	not role_allows_purpose
} else := "processing is restricted" if {
	restriction_blocks
} else := "no consent for this purpose" if {
	consent_blocks
} else := "the person objected to this purpose" if {
	objection_blocks
} else := "the person objected to profiling" if {
	profiling_blocks
} else := concat(" ", ["this purpose does not see the", input.action]) if {
	unseen_blocks
} else := "a department records consent only on its own records" if {
	department_blocks
} else := "no rule permits this request"

role_allows_action if {
	some r in input.principal.roles
	r in action_roles[input.action]
}

role_allows_purpose if {
	some r in input.principal.roles
	input.purpose in role_purposes[r]
	department_may_declare(r)
}

# The DPO names the departments that process data for a purpose (Art.
# 30(1)(d): the recipients of each processing); staff of another
# department may not declare it, whatever their role. The DPO acts for the
# controller and may declare any.
department_may_declare("dpo")

department_may_declare(r) if {
	r != "dpo"
	count(object.get(purpose, "departments", [])) == 0
}

department_may_declare(r) if {
	r != "dpo"
	input.principal.department in purpose.departments
}

# A role allows the purpose, but the principal's department is not among
# those the DPO named for it.
department_not_named if {
	some r in input.principal.roles
	input.purpose in role_purposes[r]
	not department_may_declare(r)
}

role_allows_purpose if {
	input.action in consent_actions
	input.purpose == "consent_management"
}

# Sources whose data may serve this purpose: collected for it (or for any
# purpose), and when collected under consent, only while consent holds.
# Customers see what every source holds about them.
allowed_sources contains s.name if {
	customer
	some s in input.resource.sources
}

# The DPO answering the person's access request (Art. 15) sees every
# record held about them, whatever it was collected for.
allowed_sources contains s.name if {
	staff
	input.action == "export"
	input.purpose == "compliance"
	some s in input.resource.sources
}

allowed_sources contains s.name if {
	staff
	some s in input.resource.sources
	s.legal_basis != "consent"
	serves_purpose(s)
}

allowed_sources contains s.name if {
	staff
	consent_state == "granted"
	some s in input.resource.sources
	s.legal_basis == "consent"
	input.purpose in s.purposes
}

serves_purpose(s) if count(s.purposes) == 0

serves_purpose(s) if input.purpose in s.purposes

allowed_fields := {"note"} if {
	input.action == "lineage"
} else := consent_fields[input.action] if {
	input.action in consent_actions
} else := object.get(traits_fields, input.purpose, set()) & {"traits"} if {
	# Working with a segment concerns no person, but its entries and
	# exits say why each member came or went, in the values of the
	# traits its condition names: shown under a purpose that sees traits.
	input.action == "segments"
} else := set() if {
	input.action in attribute_free
} else := object.get(timeline_fields, input.purpose, set()) if {
	input.action == "timeline"
} else := object.get(traits_fields, input.purpose, set()) if {
	input.action == "traits"
} else := purpose_fields[input.purpose]

decision := {
	"allow": true,
	"fields": sort(allowed_fields),
	"sources": sort(allowed_sources),
	"reason": concat(" ", [input.action, "for", input.purpose]),
} if {
	permitted
	allowed_fields
} else := {"allow": false, "fields": [], "sources": [], "reason": denial}
