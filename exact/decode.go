package exact

// DecodePage decodes one OData page body as [Client.Page] does, for code
// that reads pages from elsewhere (tests, files). Malformed JSON gives a
// *DecodeError naming endpoint. body is rewritten in place and must not be
// used afterwards except through the records.
func DecodePage(endpoint string, body []byte) (*Page, error) {
	pb, err := decodePage(body)
	if err != nil {
		return nil, &DecodeError{Endpoint: endpoint, Err: err}
	}
	return &Page{Records: pb.records, Next: pb.next, Count: pb.count}, nil
}
