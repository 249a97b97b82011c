//! screener-daemon: the Screener DICOM node. For now only the command line exists; the
//! listener, engine, writers, store and web page arrive with their issues.
