// Filled by the database issue.
namespace relgeo { void IndexesLinkAnchor() {} }
