// #22 F: a panel of the console (see console.js: tier0.panel(name, {title, roles, show, hide}))
