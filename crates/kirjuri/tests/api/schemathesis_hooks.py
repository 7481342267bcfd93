# Schemathesis hooks for tests/api/openapi.rs: the bodies the API takes as
# raw bytes (a WAV recording, an RFC 5322 message) are sent as they are,
# with the octet-stream serializer Schemathesis has built in.
import schemathesis

schemathesis.serializer.alias(["audio/wav", "message/rfc822"], "application/octet-stream")
