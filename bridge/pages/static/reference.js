// /docs: Swagger UI (vendored, no CDN) over the bridge's generated OpenAPI document.
"use strict";

// Problem types are "/docs#problem-<CODE>": their table lives on the protocol page.
function toProblemTable() {
  if (location.hash.startsWith("#problem-")) location.replace("docs/protocol" + location.hash);
}
toProblemTable();
window.addEventListener("hashchange", toProblemTable);

window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  tryItOutEnabled: true,
  filter: true, // the search box over operations
  validatorUrl: null, // never ask validator.swagger.io: nothing leaves the page
  defaultModelsExpandDepth: 0,
  onComplete: () => document.body.setAttribute("data-loaded", "openapi"),
});
