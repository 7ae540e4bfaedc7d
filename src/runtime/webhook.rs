//! svix signature verification and Clerk event handling.
