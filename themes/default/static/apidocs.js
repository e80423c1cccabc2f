/* The API documentation page (/schema, runtime/pages/apidocs.py): starts Swagger UI, loaded
   before this file from /static/vendor/swagger-ui/. An external file, not an inline script, so
   the CSP (script-src 'self') stays. Requests sent with "Try it out" carry the CSRF token from
   the csrftoken cookie, as the app's own pages do. */
(function () {
  "use strict";

  function cookie(name) {
    var found = document.cookie.split("; ").filter(function (c) { return c.indexOf(name + "=") === 0; })[0];
    return found ? decodeURIComponent(found.slice(name.length + 1)) : undefined;
  }

  function start() {
    var el = document.getElementById("swagger-ui");
    if (!el || typeof window.SwaggerUIBundle !== "function") return;
    window.SwaggerUIBundle({
      url: el.getAttribute("data-url"),
      dom_id: "#swagger-ui",
      deepLinking: true,
      // Dozens of tags and hundreds of operations: listed by tag, folded, with a filter box.
      docExpansion: "none",
      filter: true,
      requestInterceptor: function (request) {
        var token = cookie("csrftoken");
        if (token !== undefined) request.headers["x-csrftoken"] = token;
        return request;
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
