// Package kafka is Ringtail's Kafka wire-protocol server: it frames and
// decodes requests (through franz-go's kmsg), serves one API key per file
// from the Controller's metadata image and the node's partition Logs, and
// writes responses in request order on every connection. A listener whose
// security protocol is SSL (Config.TLS) shakes hands before its first
// request, keeps the client's principal on the connection, and copies
// fetched record bytes through crypto/tls instead of sendfile. With an
// authorizer configured, every handler checks the principal's ACLs
// (authz.go) and answers refusals with Kafka's *_AUTHORIZATION_FAILED codes.
package kafka
