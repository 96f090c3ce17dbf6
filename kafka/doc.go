// Package kafka is Ringtail's Kafka wire-protocol server: it frames and
// decodes requests (through franz-go's kmsg), serves one API key per file
// from the Controller's metadata image and the node's partition Logs, and
// writes responses in request order on every connection.
package kafka
