// Package store is the seam between the domain and where its state is
// kept: Backend, Reader and Tx (store.go), holding API messages and opaque
// cursors, every read returning an error; the index declaration a backend
// applies (Index, Query); the audit chain every backend keeps the same way
// (AuditChain); and the abilities only some backends have
// (capabilities.go). A backend is a package below this one (the bbolt one
// is store/boltstore); store/storetest is the contract it must meet.
//
// Every record is kept as its API message's wire form, so a list can send
// it on without decoding it (Reader.EachProposalRecord, Skip).
//
// # The bbolt layout
//
// store/boltstore keeps everything in one bbolt file. Every id is a uint64
// written as 8 big-endian bytes, so that byte order is numeric order and a
// cursor walks records oldest first. The bucket tree (schema version 6):
//
//	meta
//	  "schema_version"              -> uint64 (8 bytes BE)
//	sessions                        (bucket sequence = last session id)
//	  <session id>                  -> banli.v1.Session
//	units                           (bucket sequence = last unit id)
//	  <unit id>                     -> banli.v1.Unit
//	leaders                         (bucket sequence = last leader id)
//	  <leader id>                   -> banli.v1.Leader
//	proposals                       (bucket sequence = last proposal id)
//	  <proposal id>                 -> banli.v1.Proposal
//	proposal_numbers                the uniqueness of (session, number)
//	  <session name> 0x00 <number>  -> <proposal id>
//	proposal_index                  posting lists for ListProposals
//	  <term> 0x00 <proposal id>     -> (empty)
//	events                          (bucket sequence = last event sequence)
//	  <sequence>                    -> banli.v1.Event, whole, or from schema 6
//	                                   a delta on the resource's previous
//	                                   event: the snapshot's changed fields
//	                                   (boltstore/eventdelta.go)
//	resource_events                 each resource's history
//	  <resource name> 0x00 <seq>    -> (empty)
//	proposal_due                    current deadlines, for the ledger
//	  <due unix s><proposal id><assignment n, 4 bytes> -> <unit> 0x00 <session>
//	calendars                       every loaded version of every year
//	  <year, 4 bytes><version, 4 bytes> -> banli.v1.CalendarYear
//	scoring_policies                every saved version of every scoring policy
//	  <policy name> 0x00 <version, 4 bytes> -> banli.v1.SavedScoringPolicy
//	webhooks                        (bucket sequence = last webhook id)
//	  <webhook id>                  -> banli.v1.Webhook
//	webhook_outboxes                each webhook's deliveries (no events)
//	  <webhook id>                  -> banli.v1.WebhookOutbox
//	statistics                      counters kept with every change
//	  <scope> 0x00 <year, 4 bytes><session name> -> zigzag varints
//	audit                           the hash-chained audit trail
//	  <sequence>                    -> banli.v1.AuditRecord
//	                                   (meta "audit_head": last sequence + hash)
//	accounts                        callers, by account id
//	  <account id>                  -> banli.v1.Account
//	account_certificates            TLS client certificate sign-in
//	  <certificate common name>     -> <account id>
//	requests                        idempotency records (AIP-155), each the caller's own
//	  <account> 0x00 <method> 0x00 <request id> -> <sha256 of request, 32 bytes><response>
//
// An index term is "field=value", e.g. "state=3", "unit=units/12",
// "unit_role=units/12|1", "astate=3" (an assignment in that state),
// "unit_astate=units/12|3", "key=true", "leader=陈副市长",
// "deadline=provisional", "carried=2022" (a part carried over into that
// year), "submitter=accounts/npc-platform" or "topic=数字政府"; the service
// declares them (service.ProposalIndex). Names and topics never contain
// control characters (the service refuses them), so the 0x00 separator
// keeps one term's list apart from another's.
//
// Writes go through one commit loop (boltstore.DB.Write): each decision
// runs against a staging transaction that buffers its writes, so a decision
// that fails leaves nothing behind, and the decisions waiting at one moment
// share one bbolt transaction and one fsync.
package store
