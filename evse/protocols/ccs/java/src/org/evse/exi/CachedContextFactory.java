/*
 * A JAXB context factory for the iso15118 package's EXI codec (EXIficient behind a JSON front end) that builds each
 * JAXB context once.
 *
 * The codec (com.siemens.ct.exi.main.cmd.AbstractEXICodec) calls JAXBContext.newInstance on every encode and decode
 * call. With EclipseLink MOXy, the provider its message packages name in their jaxb.properties, building a context
 * for the V2G message classes takes ~15 ms; everything else in a call takes ~0.3 ms. A JAXBContext is immutable and
 * thread-safe (the JAXB specification), so one per class set serves every call; marshallers and unmarshallers are
 * still created per call by the codec, as before.
 *
 * This jar comes first on the codec JVM's classpath and carries jaxb.properties for the same two message packages
 * (appProtocol, iso15118_2) naming this class: JAXB's ContextFinder reads the first jaxb.properties the class loader
 * finds, so contexts for those classes come from here, delegating to MOXy exactly as before.
 */
package org.evse.exi;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import javax.xml.bind.JAXBContext;
import javax.xml.bind.JAXBException;
import org.eclipse.persistence.jaxb.JAXBContextFactory;

public final class CachedContextFactory {
    private static final Map<List<Class<?>>, JAXBContext> CONTEXTS = new ConcurrentHashMap<>();

    private CachedContextFactory() {}

    /** Called by JAXB's ContextFinder (by name, through jaxb.properties) for JAXBContext.newInstance(Class...). */
    public static JAXBContext createContext(Class<?>[] classes, Map<String, ?> properties) throws JAXBException {
        if (properties != null && !properties.isEmpty()) {
            // properties change what MOXy builds: such a context is not shared (the codec never passes any)
            return JAXBContextFactory.createContext(classes, properties);
        }
        List<Class<?>> key = Arrays.asList(classes.clone());
        JAXBContext context = CONTEXTS.get(key);
        if (context == null) {
            JAXBContext built = JAXBContextFactory.createContext(classes, properties);
            context = CONTEXTS.putIfAbsent(key, built);
            if (context == null) {
                context = built;
            }
        }
        return context;
    }

    /** How many class sets have a context (the daemon checks the cache is in use). */
    public static int cachedContexts() {
        return CONTEXTS.size();
    }
}
