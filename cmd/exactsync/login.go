package main

import "errors"

type authLoginCmd struct{}

func (authLoginCmd) Run(e *env) error {
	return usageError{errors.New("auth login is not available yet; use auth import --refresh-token TOKEN")}
}
