package exact

// DecodePage decodes one OData page body as [Client.Page] does, for code
// that reads pages from elsewhere (tests, files). A body that cannot be split
// into records (truncated, unbalanced, not the envelope of §3.5) gives a
// *DecodeError naming endpoint, with Record -1. A record that is bad on its
// own is returned in the page with [Record.Err] set. body is rewritten in
// place and must not be used afterwards except through the records.
func DecodePage(endpoint string, body []byte) (*Page, error) {
	pb, err := decodePage(endpoint, body)
	if err != nil {
		return nil, pageError(endpoint, err)
	}
	return &Page{Records: pb.records, Next: pb.next, Count: pb.count}, nil
}
