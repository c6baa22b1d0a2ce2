//! Client metadata for `include_metadata`: request headers (HTTP) or metadata (gRPC),
//! kept on the batch so `batch` with `metadata_keys` and header-forwarding exporters can
//! use them. Values that are not valid text (gRPC `-bin` keys, raw bytes) are skipped.

use weir_api::ClientMetadata;

pub fn from_headers(headers: &http::HeaderMap) -> ClientMetadata {
    ClientMetadata::from_pairs(
        headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?.to_owned()))),
    )
}
