// Package exacttest is a stateful simulator of the Exact Online API (OAuth2 and the OData REST
// API), for tests, demos and benchmarks: NewServer starts one on a loopback port, with Go methods
// to seed and change data, move the simulated clock, inject faults and read counters. The
// exactsim command serves the same simulator standalone.
//
// It reproduces the behaviour documented in the project's reference of Exact Online (docs/exact-online.md), quirks
// included; comments cite its sections ("§2.4"). Where the sheet marks a fact UNCONFIRMED the
// simulator picks the default the sheet suggests and says so at that spot.
//
// # Data
//
// The simulator serves every entity of the catalogue package (exact/catalogue), built from its
// data: adding an entity to entities.json makes it served, with generated records, without new
// code (entities.go). Sync entities get their sync endpoint (1,000 a page by Timestamp, deletions
// in sync/Deleted with the catalogue's EntityType) and, where the catalogue names one
// (catalogue.Data.Regular: financialtransaction/TransactionLines, crm/Contacts, logistics/Items,
// salesinvoice/SalesInvoices, …, §3.5, §5.3), their regular endpoint, serving the same records
// without Timestamp, and, where §3.13 lists one, their bulk endpoint (bulk/Financial/
// TransactionLines, bulk/Logistics/Items, …: 1,000 a page by ID, $select required, the
// regular endpoint's $filter rules); the reference entities read by Modified or in full get
// their regular endpoint. Regular endpoints serve 60 a page with $filter on every scalar field, $orderby,
// $select, $top, $skip, $inlinecount and /$count; where Exact's regular resource models a header
// (salesinvoice/SalesInvoices, keyed by InvoiceID in Exact, §5.3) the simulator still serves the
// sync endpoint's rows by the catalogue's key. Every record can be read by key (bykey.go).
// "suppliers" is not served twice: it is the accounts' stream filtered on IsSupplier (§5.1).
// crm/Accounts keeps its hand-tuned generator and endpoints (regular, bulk, sync) and serves the
// catalogue's other fields of sync/CRM/Accounts too. system/Divisions is an entity whose rows are
// the connection's granted divisions, with the catalogue's fields (§3.3). Entities() lists the
// names; Options.Records (exactsim --records) sizes them: 20 records per division unless named,
// "*" sizing the unnamed ones; the accounts are sized by Options.Accounts.
//
// Generated rows are never materialized: row i of a table is derived from (Seed, division,
// entity, i) when served, field by field from its Edm type and name (generate.go), and only the
// fields a page needs are built. Only changes are held in memory, so memory grows with the
// changes made, not with the sizes: a division of 1,000,000 transaction lines costs nothing more
// than an empty one. Timestamps are one increasing sequence per division shared by all tables and
// sync/Deleted: the accounts' generated rows take 1…Accounts, then each other table's in the
// catalogue's order, then a few generated deletions of every sync entity but the accounts (one
// per ten records, at most three, of records no page serves), then every change. The sync stream
// is the generated rows not changed since, then the changed rows in Timestamp order. Pages are
// serialized by appending bytes.
//
// Generated values (generate.go): keys are GUIDs that map back to their row; a Guid field naming
// another entity points at one of its generated records in the same division (the rule below);
// Creator and Modifier are a few users, the connection's among them; strings follow the field's
// name with non-ASCII letters, quotes, tabs and newlines; Byte, Int16 and Int32 are in range with
// their extremes now and then; Int64 values reach past 2^53 and are served as JSON strings
// (Timestamp excepted, §3.8); Edm.Double values are decimal text stored and served verbatim as
// JSON numbers, many decimals, tiny and negative values and exponents ("1234.5678901", "-0.015",
// "1E-05", "2.5e+3", "0.30000000000000004"), never through a float64; dates are /Date(ms)/ in
// Amsterdam wall-clock time (§3.8), among them midnights on both sides of the spring and autumn
// changes, the last millisecond before and the first after the spring change, and instants in
// the autumn hour that happens twice, which two different instants serve as the same /Date(ms)/;
// Binary values are base64 strings; complex values (Division's Class_01…) are null.
// Transaction lines have the Status codes 20 and 50 and the Type codes §3.16 names (20 most
// often, 10, 310, 320, 328), and their CostCenter and CostUnit hold codes of the division's
// hrm/Costcenters and hrm/Costunits records ("KP0003", "KD0001"), so that
// financial/ReportingBalance groups them as Exact would. Modified
// rises with the row, in batches of seven records sharing one Modified to the millisecond, so
// that ties cross the 60-record page boundaries of the regular endpoints.
//
// The foreign-key rule: a Guid field other than the key, Creator and Modifier names a record of
// the entity whose endpoint's last path segment is the field's name, without a trailing "ID",
// plus "s" or "es", compared without regard to case (TransactionLines.GLAccount → GLAccounts,
// .Account → Accounts, .Item → Items, .Project → Projects, .CostCenter → Costcenters,
// SalesOrderHeaders.WarehouseID → Warehouses). One reference in sixteen is null, and so is every
// reference to an entity without records. Names that fit no entity (InvoiceAccount, MainContact,
// GLAR) hold GUIDs of records the simulator does not serve. A record deleted through the control
// API may leave references to it, as Exact's own data can.
//
// MoveDivision (or POST /_sim/divisions/move) simulates Exact moving a division to another
// database (§3.10, §7): system/Divisions serves the simulated now as its DivisionMoveDate and
// every Timestamp of the division is regenerated. Exact's new values come from the other
// database and are unrelated to the old ones; the simulator renumbers starting one above where
// the previous numbering started (2 after the first move), first the live changed rows and the
// deletion log (each in its old order), then the generated rows, whose Timestamps all change.
// Old cursors are thus meaningless and mostly too high: resuming from one misses rows, the
// failure a DivisionMoveDate check prevents, while a full resync (Timestamp gt 0) returns every
// live row exactly once. Later changes continue the new sequence.
//
// # Clock
//
// The simulated clock starts at Options.Start and runs at real-time speed, plus every Advance
// (or POST /_sim/clock); Options.FreezeClock makes it move only by Advance. Token lifetimes,
// rate-limit windows and the deletion-log retention follow it.
//
// # Choices where Exact's behaviour is unknown
//
//   - Without Accept: application/json the REST API answers XML (§3.4): a small, valid Atom feed
//     (errors as the OData XML error), not a 406.
//   - Timestamp is served as a JSON number (§3.8); the sync skiptoken is "<Timestamp>L" (§3.10).
//   - $select is required on sync endpoints as on bulk ones (§3.9); mandatory filtering applies to
//     crm/Accounts, bulk/CRM/Accounts and logistics/Items (§2.7, §3.9); which fields of Items
//     count is UNCONFIRMED: a $filter on any is accepted.
//   - $skip pages regular endpoints (§3.6: "$skip=0&$top=100 still works on old endpoints";
//     which regular endpoints are newer than 1 March 2017 is not known) and is refused with a
//     400 on bulk and sync endpoints, released after Exact stopped supporting it (§3.6, §3.7,
//     §3.10, §3.13); the text of that 400 is UNCONFIRMED. A $-option the simulator does not know
//     is refused with WCF's text, "The query parameter '$count' begins with a system-reserved
//     '$' character but is not recognized." (§3.16).
//   - __next is absolute and keeps the request's options in their order but $skip (dropped) and
//     $top (reduced by the rows served: $top=100 gives $top=40), with the $skiptoken last; a ':'
//     of the skiptoken is %3A and a datetime literal's milliseconds lose their trailing zeros
//     (datetime'2018-09-21T04%3A18%3A55.617',guid'…'), as in the 2026 recordings (§3.5).
//   - GET by key (§3.1, §3.5): Entity(guid'…') on regular and bulk endpoints, Divisions(101), and
//     on sync endpoints the Timestamp their __metadata.uri names (sync/CRM/Accounts(4001L):
//     Exact's reference gives Timestamp as the sync resources' key, §3.10), answering {"d":{…}}
//     with the record's __metadata (an Atom entry in XML); $select applies. /$count answers the
//     number of records its $filter selects as plain text, on regular endpoints (§3.16; on bulk
//     and sync endpoints UNCONFIRMED: 404).
//   - __metadata.type is the endpoint's singular model name under Exact.Web.Api.Models. (§3.5):
//     Journal, VATCode, Account, Item, GLAccount as recorded, with the namespace recorded for
//     financialtransaction (Financial.TransactionLine) and system and current (System.Division,
//     System.Me); other services' namespaces and the types of sync and bulk records are not
//     known and get none.
//   - Codes as served in 2026 (§3.5, §3.8): account codes (Accounts.Code and the fields that hold
//     an account's code, such as VATCodes.AccountCode, TransactionLines.AccountCode,
//     Divisions.CustomerCode) right-aligned in 18 characters, VAT codes (VATCodes.Code, the
//     VATCode fields) left-aligned in 3 ("VB ", "0  "), GL account and journal codes plain
//     numeric text ("101000", "90"); a field holding another record's code holds one of that
//     entity's generated codes. The padded fields are those the catalogue trims.
//   - current/Me's ServerUtcOffset is Amsterdam's offset on the simulated day (3600 in winter,
//     7200 in summer, §3.5) and ServerTime its wall clock.
//   - Every 4xx but the 401 and the 429 has the §4.1 error envelope, a path that is no endpoint
//     included ("Resource not found for the segment 'Things'.", the OData text; the 404 body is
//     UNCONFIRMED, §4.2); the 401 and the 429 keep the bodies §4.2 and §2.4 give them.
//   - Regular and bulk pages without $orderby come in Timestamp order with
//     $skiptoken=guid'<last ID>' (§3.6); Exact orders them by ID. The skiptoken is a position:
//     the next page continues where the page ended when it was served, even when that row has
//     changed or gone since. With $orderby (§3.7, §3.15) the
//     rows are sorted by its fields, then by the key; the skiptoken is the last row's sort values
//     and key as literals, as WCF Data Services pages ordered results
//     ($skiptoken=datetime'2026-01-05T10%3A00%3A00.25',guid'…'); nulls sort first; dates compare
//     and sort by their Amsterdam wall-clock time, as Exact stores them, in $filter too.
//     $orderby on a sync endpoint is refused (400). system/Divisions pages by Code.
//   - Navigation collections (an account's BankAccounts, a VAT code's VATPercentages) are
//     served as {"__deferred":{"uri":"<record URI>/VATPercentages"}}, OData V2's unexpanded form,
//     without $select, as recorded in 2026 (§3.5), and with $select only when it names them;
//     never in Records.
//   - Int64 values are JSON strings (the OData V2 verbose convention, §3.8), but Timestamp is a
//     number; Doubles are JSON numbers with their exact text.
//   - The REST 401 is the historic HTML "Object moved" page with a WWW-Authenticate header that
//     contains "access token expired" for an expired token (§4.2, §8).
//   - A consent replaces the token chain at the code exchange (§1.9). An early refresh leaves the
//     refresh token valid (§1.8). Tokens or codes never issued get 400 invalid_grant "Signed data
//     extraction has failed." (§1.10, an invented text).
//   - The error-budget block (§2.5, off by default) answers 429 "API rate limit exceeded"; the
//     token endpoint's errors, an early refresh among them (§1.8), count on a budget of its own.
//     "The block grows on repetition" (§2.5) by an amount not documented: a block that starts
//     within a day of the end of the endpoint's previous one lasts twice as long (1 h, 2 h, 4 h,
//     … up to 24 h); after a day without one it is an hour again.
//   - The licence's daily cap (Options.Licence, off by default; §2.7, UNCONFIRMED): the calls of
//     every app of the licence together, per UTC day, over its divisions or per division, with
//     the other apps' calls (Licence.OtherAppCalls each day from its start, SpendLicence, POST
//     /_sim/licence). Past it every call of a division gets the 429 of a spent day (§2.4): the
//     day's headers only, X-RateLimit-Limit the app's own (the licence's when the app has
//     none), X-RateLimit-Remaining 0, X-RateLimit-Reset the next 00:00 UTC, an empty body; the
//     answers before it name the app's own budget (§2.2). Exact's headers for this cap are not
//     known: a client tells it from the app's own limit by the 0 coming early.
//   - With Options.EmptyUnauthorizedBody the REST 401 has an empty body instead (§7).
//   - Maintenance (Options.Maintenance, off by default): every /api/ call, OAuth2 included, gets
//     503 from 04:00 to 04:30 Amsterdam wall-clock time (§0, §6.11; "CET" read as Dutch local
//     time) or in the window of MaintenanceStart/End. The 503 body is UNCONFIRMED (§4.2, §8):
//     the §4.1 error envelope (JSON or XML by Accept) "Exact Online is unavailable because of
//     scheduled maintenance. Please try again later.", with no Retry-After and no rate-limit
//     headers, before authentication; the call is not counted against the limits.
//   - The envelope (§3.5): the bare {"d":[…]} when $top is at most 60 and there is no $skiptoken,
//     with or without $select, on every collection endpoint, the rule that fits 34 of the 35
//     collection GETs recorded in 2026; {"d":{"results":[…]}} for a larger $top, no $top, a
//     continuation page, and with $inlinecount (its __count needs the object). A page of a $top
//     of at most 60 never needs __next. current/Me keeps {"d":{"results":[…]}} (§3.2);
//     Options.NoBareEnvelope always serves d.results.
//
// # Reconciliation
//
// What a reconciliation reads (§3.16, reconcile.go): /$count and $inlinecount=allpages count
// what the $filter selects on every regular endpoint (crm/Accounts with IsSupplier eq true
// counts the suppliers); financial/ReportingBalance is computed from the division's own
// transaction lines, whatever the control API did to them: one row per division, FinancialYear
// (ReportingYear), FinancialPeriod (ReportingPeriod), GLAccount, CostCenter (CostCenterCode),
// CostUnit (CostUnitCode), Type and Status, with Count the lines, Amount the exact sum of AmountDC
// (decimal arithmetic, never a float64; decimal.go), AmountDebit the sum of the positive
// amounts and AmountCredit that of the negative ones as a positive number (its sign is
// UNCONFIRMED), GLAccountCode, GLAccountDescription and BalanceType from the G/L account, the
// cost centre's and unit's descriptions from hrm/Costcenters and hrm/Costunits, and ID a
// 53-bit hash of the group's key, served as a JSON string. It takes $select (or $top=1,
// else the 400 of §3.9), $filter on any member, $top and $inlinecount, and pages 60 rows in ID
// order with $skiptoken=<ID>L; $skip, $orderby and $expand are refused (UNCONFIRMED). The rows
// are computed once per state of the division's data. read/sync/Sync/SyncTimestamp answers
// {"d":{"results":[{API, Modified, TimeStampAsBigInt}]}} for the first record, in Timestamp
// order, modified on or after the date, none when no record is (envelope, the JSON string
// and the empty answer UNCONFIRMED), for the endpoints of Options.SyncTimestampEndpoints (by
// default the five §3.10 names; Accounts is not one); a missing parameter or another
// endpoint is a 400. sync/Deleted keeps a deletion for Options.DeletedRetention, two months
// (60 days) by default (§3.12).
//
// PlantDrift (POST /_sim/drift) plants what makes a copy differ from Exact (drift.go): a
// deletion dated before the log's retention, so that sync/Deleted never serves it; a change
// that keeps the record's Timestamp (and Modified), which no incremental sync serves; a
// record, new or existing, that the sync endpoint never serves while the regular endpoint,
// /$count, $inlinecount and ReportingBalance include it, until it is changed or deleted the
// ordinary way. None of them is delivered to webhooks. Options.HiddenFromSync (exactsim
// --hidden-from-sync) hides the last generated records of an entity from the start.
//
// # Webhooks
//
// Each division has its webhooks/WebhookSubscriptions collection (§3.14), behind the same
// auth, scope and rate limits as the data endpoints: GET lists the division's
// subscriptions of the simulator's app (another app's, AddOtherAppWebhookSubscription, are
// neither listed, deleted nor delivered to: an app cannot see them), POST {"CallbackURL":…,"Topic":…} subscribes (201 with the subscription;
// 400 for a topic outside the sheet's list, or a callback that is not https on the domain
// of the registered redirect URI; loopback callbacks are exempt, for tests), and DELETE
// WebhookSubscriptions(guid'…') removes one (204, 404 when unknown). Options.Webhooks
// .ValidationDelay (1 s by default) after a POST the simulator sends the validation call,
// an empty POST to the callback; a callback that does not answer 200 loses its
// subscription (Exact's reaction is not known; the deliveries stop here). Every record
// changed through the control API or its Go methods (UpsertRecords, DeleteRecords,
// UpsertAccounts, DeleteAccounts; not the hostile records) gets one delivery per
// validated subscription of its division to a topic of its entity (the catalogue's
// webhook_topics): {"Content":{"Topic","ClientId","Division","Action","Key",
// "ExactOnlineEndpoint","EventCreatedOn"},"HashCode":"<HEX>"}, Action Create (an upsert
// without a key), Update or Delete, HashCode the upper-case hex HMAC-SHA256 of the Content
// text as sent, keyed with Options.Webhooks.Secret. Knobs (Options.Webhooks,
// SetWebhookOptions, POST /_sim/webhooks, exactsim --webhook-*): Delay, LossRate,
// Duplicates, WrongSignature. WebhookDeliveries (GET /_sim/webhooks) logs every call and
// every lost delivery; AddWebhookSubscription adds another app's or person's
// subscription without a validation call.
//
// # Control endpoints (JSON, no auth)
//
//	POST /_sim/clock    {"advance":"9m30s"}
//	GET  /_sim/clock    → {"now":"<RFC3339Nano>"}
//	POST /_sim/accounts {"division":101,"upsert":[{"ID":"…","Name":"…","IsSupplier":true}],"delete":["<guid>"]}
//	POST /_sim/accounts {"division":101,"raw_upsert":[{"ID":"…","Name":"has\u0000nul"},"{\"ID\":\"…\",\"Name\":[1 2 x]}"]}
//	GET  /_sim/accounts?division=101
//	GET  /_sim/accounts?division=101&hostile=1  → [{"id":"<guid or empty>","timestamp":N,"record":"<bytes>"}]
//	GET  /_sim/stats    → Stats as JSON (calls by division and endpoint, token calls, max_concurrent data calls per division)
//	POST /_sim/faults   {"error_rate":0.1,"latency":"50ms","truncate_rate":0.05,"malformed_next":1}
//	POST /_sim/revoke   {"division":102}
//	POST /_sim/divisions/move {"division":101}  → {"division":101,"division_move_date":"<RFC3339Nano>"}
//	GET  /_sim/refresh-token
//	POST /_sim/records  {"entity":"transaction_lines","division":101,"upsert":[{"ID":"…","AmountDC":1E-05,"Date":"/Date(1761445800000)/"}],"delete":["<key>"]}
//	                    → {"upserted":1,"keys":["<key>",…],"deleted":1}
//	GET  /_sim/records?entity=transaction_lines&division=101  → [{"Timestamp":…,"Account":"…","AmountDC":-1234567.89,…},…]
//	POST /_sim/drift    {"entity":"transaction_lines","division":101,"delete_unlogged":["<key>"],"silent_changes":[{"ID":"…","AmountDC":7.77}],
//	                     "hidden":[{"AmountDC":5}],"hide":["<key>"]}  → {"deleted_unlogged":1,"silent_changes":1,"hidden_keys":["<key>"],"hidden":2}
//	GET  /_sim/webhooks → {"subscriptions":[…],"deliveries":[…]}
//	POST /_sim/webhooks {"delay":"2s","validation_delay":"1s","loss_rate":0.5,"duplicates":1,"wrong_signature":false}
//	GET  /_sim/licence  → {"day":"2026-01-05","daily_limit":20000,"per_division":false,"other_app_calls":0,"ours":{"licence":12},"others":{"licence":18000}}
//	POST /_sim/licence  {"daily_limit":20000,"per_division":false,"other_app_calls":0,"spend":18000,"division":101}
//
// An upsert of an existing ID merges the given fields over the current record; an upsert without
// ID creates an account. Every change takes the division's next Timestamp.
//
// /_sim/records does the same for any entity by the catalogue's name (UpsertRecords,
// DeleteRecords, Records in Go): an upsert of an existing key merges, one without a key (or with
// an unknown one) creates the record with null in the fields not given; each takes the division's
// next Timestamp and, unless it gives one, Modified = the simulated now (give several records the
// same Modified to make ties); deletions appear in sync/Deleted with the entity's EntityType.
// Values are JSON as served: dates "/Date(ms)/" in Amsterdam wall-clock time (or RFC 3339),
// Doubles JSON numbers whose text is kept ("1E-05" stays 1E-05), Int64 numbers or strings,
// Binary base64. An unknown entity is a 400 naming the valid ones. GET returns the truth: every
// record, ordered by key, every scalar field as the endpoint serves it (Timestamp for sync
// entities), without __metadata. /_sim/accounts and the Account API work as before.
//
// # Hostile records
//
// Exact can in practice serve records a client cannot decode or store. UpsertRawAccounts (or
// "raw_upsert": a JSON object taken byte for byte, or a JSON string holding a record that is not
// valid JSON itself) injects such a record, served verbatim by sync/CRM/Accounts inside the
// normal envelope: a NUL ("has\u0000nul") or a lone surrogate ("\ud800") in a string, an ID that
// is not a GUID, "Timestamp":null, "IsSupplier":"yes", "Created":"/Date(garbage)/", invalid
// JSON such as "Name":[1 2 x] or "Name":"\x". The only requirement is that the record starts
// with '{' and ends with '}'. Each takes the division's next Timestamp, its position in the sync
// order. The simulator adds the usual __metadata when the record has none, and a Timestamp
// member holding its position when the record has none; a Timestamp the record has (null,
// garbage) is served as given. $select does not cut a hostile record. A record whose ID is a
// GUID is keyed by it: a later ordinary upsert of that ID replaces it (the given fields over
// defaults, not merged), a deletion removes it and appears in sync/Deleted. A record without a
// GUID ID is a row of its own, never replaced nor deletable, and crm/Accounts and
// bulk/CRM/Accounts, which page by ID, do not serve it (they do serve the GUID-keyed ones). The
// XML feed serves a hostile record from the fields the simulator could read. Accounts, Account
// and GET /_sim/accounts (the truth) leave hostile records out; HostileAccounts and
// GET /_sim/accounts?hostile=1 list them with their position.
//
// # Behaviour and the tests that pin it
//
//	Behaviour                                                        Test
//	auth redirects with a '!' code, %21-encoded, state echoed         TestAuthorizeRedirectsWithEncodedCode
//	auth rejects wrong redirect URI / client / response type          TestAuthorizeRejects
//	code exchange: expires_in "600" string, bearer, '!' refresh token TestCodeExchange
//	code single use (plain "Bad Request"), 3-minute TTL, bad client   TestCodeExchange, TestCodeErrors
//	rotating refresh tokens, chain start from Options.RefreshToken    TestRefreshRotates
//	570 s rule: 400 access_denied + Reason TooEarlyToRefreshTokens    TestRefreshErrors/too_early
//	old refresh token: 401 unauthorized_client "Old refresh token used." TestRefreshErrors/old_refresh_token_reused
//	30-day idle expiry: 400 invalid_request "…expired at…"            TestRefreshErrors/idle_for_more_than_30_days
//	second consent invalidates the previous chain                     TestRefreshErrors/second_consent_…
//	token chain kept across restarts with Options.AuthStateFile       TestAuthStateFileKeepsTheChainAcrossRestarts
//	bad client: 400 {"error":"invalid_request"}                        TestRefreshErrors/bad_client
//	early refresh keeps the refresh token valid                       TestEarlyRefreshKeepsTokenValid
//	credentials only in the form body                                 TestTokenEndpointNeedsFormBody
//	REST 401 missing/unknown/expired token + WWW-Authenticate          TestRESTAuth
//	REST 401 body: HTML "Object moved" or empty (option)              TestUnauthorizedBody
//	403 Reason: NoDivisionAccess (revoked, never granted)             TestRESTAuth
//	current/Me CurrentDivision, not rate-limited; system/Divisions    TestMeAndDivisions
//	crm/Accounts: 60 per page, $filter (IsSupplier eq true, ID, trim), TestAccountsQueries
//	  mandatory filtering, $select, $top (>60 stays 60), $inlinecount,
//	  absolute __next with $skiptoken, §4.4 messages
//	bulk/CRM/Accounts: $select mandatory, 1,000 per page               TestAccountsQueries, TestPagingCoversEveryRowOnce
//	sync/CRM/Accounts: only Timestamp gt nL, 1,000 per page, nL token TestAccountsQueries, TestSyncStreamAndDeleted
//	paging returns every row exactly once                             TestPagingCoversEveryRowOnce
//	paging continues from a page end that changed or was deleted      TestPagingSurvivesAChangeOfThePageEnd
//	Options.IgnoreOrderBy: $orderby accepted and dropped, ID order    TestIgnoreOrderByServesByID
//	sync/Deleted EntityType 2, shared Timestamp sequence, retention   TestSyncStreamAndDeleted
//	division move: DivisionMoveDate, all Timestamps regenerated,       TestMoveDivision, TestMoveDivisionUnknown
//	  full resync complete, old cursor misses rows, POST /_sim/divisions/move
//	bare {"d":[…]} for $top <= 60 without $skiptoken, d.results else  TestBareEnvelope, TestRecordedExamples
//	the 2026 recordings replayed: envelope, __next form, deferred     TestRecordedExamples
//	  navigation, type names, padded and plain codes, Int64 strings,
//	  ServerUtcOffset of the day, GET by key
//	$skip on regular endpoints, 400 on bulk and sync; /$count; 400    TestQueryOptions
//	  for unknown $-options; GET by key on every kind of endpoint;
//	  JSON 404s for unknown keys and paths
//	every regular endpoint paged by a client of the public API shape  TestPublicClientReadsEveryEntity
//	  equals /_sim/records, each record read back by key
//	503 in the daily maintenance window (04:00–04:30 Amsterdam,        TestMaintenance, TestMaintenanceAuthorize
//	  configurable, off by default), OAuth2 included, /_sim/ not
//	GUIDs, 18-char Codes, /Date(ms)/ Amsterdam, __metadata, ~30%      TestDataRealism
//	  suppliers, non-ASCII names, nulls, deterministic from the seed
//	XML (Atom) unless Accept: application/json                        TestXMLUnlessJSONAccepted
//	error envelope {"error":{"code":"","message":{…}}}                 TestAccountsQueries, TestRESTAuth
//	six X-RateLimit-* headers in epoch ms, clock minute, 00:00 UTC     TestRateLimitHeaders
//	per (client, division) counters                                   TestRateLimitHeaders
//	429 empty body with only the exhausted limit's headers            TestRateLimit429
//	limits off: no headers                                            TestNoLimitsNoHeaders
//	10-errors-per-hour block (optional)                               TestErrorBudget
//	  doubling when it repeats within a day, up to 24 h                TestErrorBudgetBlockGrows
//	licence's daily cap: other apps' calls count, an early 429 with   TestLicenceCap
//	  0 left and the reset, per division or licence, /_sim/licence
//	  token errors (an early refresh too) count, the endpoint blocked  TestErrorBudgetCountsTokenErrors
//	POST /_sim/clock                                                  TestControlClock, TestClockFollowsRealTime
//	GET /_sim/clock {"now":"<RFC3339Nano>"}                           TestControlClockGet
//	POST and GET /_sim/accounts (merge, create, delete, truth)        TestControlAccounts
//	hostile records verbatim, in sync order, Timestamp added only     TestHostileRecordsServedVerbatimInSyncOrder
//	  when absent, __metadata added
//	raw_upsert (objects and strings), GET ?hostile=1, truth without   TestHostileRecordsThroughControlEndpoint
//	  them, bad raw records rejected
//	hostile record replaced by an ordinary upsert, deleted by ID      TestHostileRecordReplacedAndDeleted
//	  (sync/Deleted); a non-GUID ID cannot be deleted
//	regular and bulk endpoints serve GUID-keyed hostile records only  TestHostileRecordsOnRegularAndBulkEndpoints
//	lenient member lookup in invalid JSON                             TestRawMember
//	GET /_sim/stats and Stats helpers                                 TestControlStats
//	faults: 500/503, latency, truncated body, malformed __next        TestFaults
//	405 on non-GET REST calls                                         TestMethodNotAllowed
//	every catalogue entity served but suppliers, the served records   TestEveryCatalogueEntityIsServed
//	  equal Records (the truth) byte for byte, page sizes 1,000/60
//	foreign-key rule; every generated reference names a record of     TestForeignKeyRule,
//	  its target (transaction lines' GL accounts, accounts, items,     TestForeignKeysPointAtExistingRecords
//	  projects), spread over them
//	dates around daylight saving: spring edges, midnights on both      TestDatesAroundDaylightSaving
//	  sides, the autumn hour twice (same /Date(ms)/)
//	Doubles as exact decimal text, exponents, round trip through the   TestDoublesAreExactDecimalText
//	  control API
//	Modified paging: $orderby, ties across page boundaries, ge/gt      TestModifiedPagingWithTies
//	  datetime literals in Amsterdam time, ties via the control API,
//	  skiptoken inside a tie, 400 for bad $orderby and skiptokens
//	sync/Deleted carries every sync entity's EntityType, shared        TestDeletedCarriesEveryEntityType
//	  Timestamp sequence
//	POST and GET /_sim/records (merge, create, delete, exact text,     TestControlRecords
//	  400 naming the entities, 404 unknown division)
//	Options.Records sizes, "*", bad names panic                        TestRecordsSizing
//	webhooks: subscribe, list, delete by key, validation POST, signed  TestWebhookSubscriptionsAndDeliveries
//	  deliveries per changed record, topic and callback rules
//	webhook knobs: duplicates, wrong signature, loss, failed           TestWebhookKnobs
//	  validation, POST /_sim/webhooks
//	another app's subscriptions unseen, undeletable, not delivered     TestOtherAppsSubscriptionsAreNotOurs
//	1M accounts through sync/CRM/Accounts >= 150,000 records/s        BenchmarkSyncAccounts1M
//	1M transaction lines, every field: records/s, heap held            BenchmarkSyncTransactionLines1M
//	financial/ReportingBalance equals /_sim/records' lines grouped     TestReportingBalanceEqualsGroupedRecords
//	  (§3.16) with exact sums, after changes, drift, per year, every
//	  division; 60 a page, $skiptoken=<ID>L, __count
//	ReportingBalance: $select or $top=1, bare envelope, $skiptoken,    TestReportingBalanceQueries
//	  $filter, refusals, no by-key read, counted as its endpoint
//	/$count and $inlinecount honour $filter (IsSupplier eq true),      TestCountsHonourTheFilter
//	  hidden records counted; no /$count on sync and bulk
//	exact decimal sums: overflow, exponents, long scales               TestDecimalSum, FuzzDecimalSum
//	bulk endpoints of §3.13: 1,000 a page, $select, the truth's ID     TestBulkEndpointsServeTheIDSet
//	  set (hidden records in, deletions beyond the log out)
//	drift: unlogged deletion, change without Timestamp, records        TestPlantDrift
//	  counted but never synced, POST /_sim/drift and its refusals
//	Options.HiddenFromSync: hidden from the start, counted             TestHiddenFromSyncOption
//	sync/Deleted keeps two months, Options.DeletedRetention            TestDeletionLogKeepsTwoMonths
//	read/sync/Sync/SyncTimestamp: first record modified since, a       TestSyncTimestamp
//	  re-read from it complete, refusals, Options.SyncTimestampEndpoints
//	ReportingBalance of 1M transaction lines: groups/s                 BenchmarkReportingBalance1M
//	exactsim flags (--records), first line, serving                   TestParseFlags, TestExactsim (cmd/exactsim)
package exacttest
