"""`connector pohoda …`: encode, decode and status against POHODA mServer."""
