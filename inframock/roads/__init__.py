"""The two roads that run the stack, behind one interface (`base.py`): the
embedded road (`embedded/`) and the Docker road (`compose/`); `choice.py`
takes one, `found.py` says what the state folder's record says runs."""
